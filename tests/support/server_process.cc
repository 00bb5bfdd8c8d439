#include "tests/support/server_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "client/fringe_client.h"
#include "tests/support/test_repository.h"

namespace fringe::testing {
namespace {

pid_t Spawn(const std::vector<std::string>& argv, const std::string& log_path) {
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    const int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
    }
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  return pid;
}

int WaitExit(pid_t pid, int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

ServerProcess::ServerProcess(const std::string& binary, const std::string& repository,
                             const std::vector<std::string>& extra_args) {
  const std::string dir = MakeTempDir("fringe_server");
  const std::string port_file = dir + "/port";
  log_path_ = dir + "/server.log";
  const std::string metrics_port_file = dir + "/metrics_port";
  std::vector<std::string> argv = {binary,     "--listen",    "127.0.0.1:0", "--repository",
                                   repository, "--port-file", port_file};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  // Defaults that keep parallel test servers apart, unless the test chose its own.
  const auto given = [&](const std::string& flag) {
    return std::find(extra_args.begin(), extra_args.end(), flag) != extra_args.end();
  };
  if (!given("--metrics-listen")) {
    argv.insert(argv.end(),
                {"--metrics-listen", "127.0.0.1:0", "--metrics-port-file", metrics_port_file});
  }
  state_dir_ = dir + "/state";
  for (size_t i = 0; i + 1 < extra_args.size(); ++i) {
    if (extra_args[i] == "--state-dir") state_dir_ = extra_args[i + 1];
  }
  if (!given("--state-dir")) argv.insert(argv.end(), {"--state-dir", state_dir_});
  pid_ = Spawn(argv, log_path_);

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (port_ == 0) {
    std::ifstream in(port_file);
    if (!(in >> port_)) port_ = 0;
    if (port_ == 0) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error("fringe-server exited during start-up:\n" + ReadFile(log_path_));
      }
      if (std::chrono::steady_clock::now() > deadline) {
        throw std::runtime_error("fringe-server wrote no port file:\n" + ReadFile(log_path_));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  if (!given("--metrics-listen")) {
    std::ifstream in(metrics_port_file);
    in >> metrics_port_;
  }
  FringeClient::Options options;
  options.target = address();
  auto client = FringeClient::Create(options);
  while (true) {
    auto health = client->Health();
    if (health.ok() && *health == grpc::health::v1::HealthCheckResponse::SERVING) break;
    if (std::chrono::steady_clock::now() > deadline) {
      throw std::runtime_error("fringe-server never reported SERVING:\n" + ReadFile(log_path_));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
}

int ServerProcess::StopWith(int signal, int timeout_ms) {
  if (pid_ <= 0) return -1;
  kill(pid_, signal);
  const int code = WaitExit(pid_, timeout_ms);
  pid_ = -1;
  return code;
}

int RunCommand(const std::vector<std::string>& argv, std::string* output) {
  const std::string log = MakeTempDir("fringe_cmd") + "/out.log";
  const pid_t pid = Spawn(argv, log);
  const int code = WaitExit(pid, 300000);
  if (output) *output = ReadFile(log);
  return code;
}

}  // namespace fringe::testing
