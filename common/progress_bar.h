// A one-line progress bar on stderr: "label [#####.....] 12/40 3.1/s ETA 9s". Redrawn in
// place on a terminal; on a pipe or file it prints a plain line every 10% (and at least every
// 30 s) so logs stay short but show progress.
#ifndef FRINGE_COMMON_PROGRESS_BAR_H_
#define FRINGE_COMMON_PROGRESS_BAR_H_

#include <chrono>
#include <cstdint>
#include <string>

namespace fringe {

class ProgressBar {
 public:
  ProgressBar(std::string label, int64_t total);
  // Sets the number of finished units and an optional suffix (e.g. "loss 0.31").
  void Update(int64_t done, const std::string& suffix = "");
  // Draws the final state and ends the line.
  void Finish(const std::string& suffix = "");

 private:
  void Draw(int64_t done, const std::string& suffix, bool final);

  const std::string label_;
  const int64_t total_;
  const bool tty_;
  const std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_{};
  int last_decile_ = -1;
  int64_t done_ = 0;
};

}  // namespace fringe

#endif  // FRINGE_COMMON_PROGRESS_BAR_H_
