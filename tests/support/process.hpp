#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace sluice::test {

// A child process started with fork/exec, stopped by its PID (never by name). Its stdout is a
// pipe the test can read line by line; stderr goes to the test's stderr unless it is captured
// too, for tests of what the child logs.
class process {
  public:
    process() = default;
    process(const std::string& program, const std::vector<std::string>& args,
            bool capture_stdout = true, bool capture_stderr = false);
    process(process&&) noexcept;
    process& operator=(process&&) noexcept;
    process(const process&) = delete;
    process& operator=(const process&) = delete;
    ~process();

    pid_t pid() const noexcept { return pid_; }
    bool running();

    // Reads one line of stdout (without '\n'); empty optional-like "" on EOF or timeout, with
    // `ok` false.
    std::string read_line(std::chrono::milliseconds timeout, bool* ok = nullptr);
    // Reads lines until one contains `needle`; returns it, or "" on EOF/timeout.
    std::string wait_for_line(const std::string& needle, std::chrono::milliseconds timeout);

    // The same for a captured stderr. Every stderr line read is also kept, in order, so a test
    // can count what was logged however it waited for it.
    std::string read_stderr_line(std::chrono::milliseconds timeout, bool* ok = nullptr);
    std::string wait_for_stderr_line(const std::string& needle, std::chrono::milliseconds timeout);
    // Every stderr line so far: those already read, then whatever arrives within `quiet`.
    const std::vector<std::string>& stderr_lines(
        std::chrono::milliseconds quiet = std::chrono::milliseconds(0));

    // Sends a signal and waits for the exit; returns the exit status (as from waitpid's
    // WEXITSTATUS), or -signal when killed by one, or -1000 when it did not exit in time.
    int stop(int signal, std::chrono::milliseconds timeout = std::chrono::seconds(10));
    // Waits for the exit without signalling.
    int wait(std::chrono::milliseconds timeout);

  private:
    // Reads lines with `read(time_left, &ok)` until one contains `needle`.
    template <class Read>
    static std::string wait_for(const std::string& needle, std::chrono::milliseconds timeout,
                                Read read) {
        auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) return {};
            bool ok = false;
            std::string line = read(left, &ok);
            if (!ok) return {};
            if (line.find(needle) != std::string::npos) return line;
        }
    }

    // A pipe read line by line; a partial line waits in `pending` for its end.
    struct line_reader {
        int fd = -1;
        std::string pending;
        std::string read_line(std::chrono::milliseconds timeout, bool* ok);
        void close();
    };

    pid_t pid_ = -1;
    line_reader out_;
    line_reader err_;
    std::vector<std::string> stderr_seen_;
    int status_ = 0;
    bool reaped_ = false;
};

// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then released).
unsigned short free_port();

// A listening TCP socket on 127.0.0.1 and a port the kernel picked, for tests that play the
// server themselves. Returns the descriptor (the caller closes it), or -1.
int listen_loopback(unsigned short& port);

// Path of a program built by this project, e.g. binary("sluice").
std::string binary(const std::string& name);

}  // namespace sluice::test
