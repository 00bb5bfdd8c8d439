// Runs the real fringe-server binary as a child process on a loopback port for integration
// tests, and stops it with a signal.
#ifndef FRINGE_TESTS_SUPPORT_SERVER_PROCESS_H_
#define FRINGE_TESTS_SUPPORT_SERVER_PROCESS_H_

#include <sys/types.h>

#include <string>
#include <vector>

namespace fringe::testing {

class ServerProcess {
 public:
  // Starts `binary` with --listen 127.0.0.1:0 --repository `repository` plus `extra_args`
  // (and, unless given there, --metrics-listen 127.0.0.1:0 and a temporary --state-dir),
  // waits until it has written its port and reports SERVING (throws on timeout).
  ServerProcess(const std::string& binary, const std::string& repository,
                const std::vector<std::string>& extra_args = {});
  // Kills the server (SIGKILL) if it is still running.
  ~ServerProcess();

  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }
  // The /metrics port (0 when the test chose --metrics-listen itself).
  int metrics_port() const { return metrics_port_; }
  // The server's --state-dir (a fresh temporary one unless the test gave its own).
  const std::string& state_dir() const { return state_dir_; }

  // Sends `signal` and waits for the exit; returns the exit status (or 128 + signal).
  int StopWith(int signal, int timeout_ms = 60000);
  // Path of the server's stderr log, for failure messages.
  const std::string& log_path() const { return log_path_; }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  int metrics_port_ = 0;
  std::string state_dir_;
  std::string log_path_;
};

// Runs a command, waits, returns its exit status; stdout+stderr go to *output.
int RunCommand(const std::vector<std::string>& argv, std::string* output);

}  // namespace fringe::testing

#endif  // FRINGE_TESTS_SUPPORT_SERVER_PROCESS_H_
