#include "common/progress_bar.h"

#include <unistd.h>

#include <cstdio>

namespace fringe {

ProgressBar::ProgressBar(std::string label, int64_t total)
    : label_(std::move(label)),
      total_(total),
      tty_(isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()) {}

void ProgressBar::Update(int64_t done, const std::string& suffix) {
  done_ = done;
  const auto now = std::chrono::steady_clock::now();
  if (tty_) {
    // Redrawing more than ~10 times a second only costs time.
    if (now - last_draw_ < std::chrono::milliseconds(100) && done < total_) return;
    last_draw_ = now;
    Draw(done, suffix, false);
  } else {
    // Logs get a line per 10% and at least one every 30 s, so long runs show they are alive.
    const int decile = total_ > 0 ? static_cast<int>(10 * done / total_) : 0;
    if (decile == last_decile_ && now - last_draw_ < std::chrono::seconds(30)) return;
    last_decile_ = decile;
    last_draw_ = now;
    Draw(done, suffix, false);
  }
}

void ProgressBar::Finish(const std::string& suffix) { Draw(done_, suffix, true); }

void ProgressBar::Draw(int64_t done, const std::string& suffix, bool final) {
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = elapsed > 0 ? done / elapsed : 0.0;
  const double eta = rate > 0 ? (total_ - done) / rate : 0.0;
  constexpr int kWidth = 24;
  const int filled = total_ > 0 ? static_cast<int>(kWidth * done / total_) : kWidth;
  std::string bar(filled, '#');
  bar.resize(kWidth, '.');
  std::fprintf(stderr, "%s%s [%s] %lld/%lld %.1f/s %s%.0fs%s%s%s", tty_ ? "\r\033[K" : "",
               label_.c_str(), bar.c_str(), static_cast<long long>(done),
               static_cast<long long>(total_), rate, final ? "in " : "ETA ", final ? elapsed : eta,
               suffix.empty() ? "" : " ", suffix.c_str(), (final || !tty_) ? "\n" : "");
  std::fflush(stderr);
}

}  // namespace fringe
