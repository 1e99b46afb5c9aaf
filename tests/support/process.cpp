#include "tests/support/process.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <thread>
#include <utility>

namespace sluice::test {

process::process(const std::string& program, const std::vector<std::string>& args,
                 bool capture_stdout, bool capture_stderr) {
    int fds[2] = {-1, -1};
    int efds[2] = {-1, -1};
    if (capture_stdout && pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    if (capture_stderr && pipe2(efds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(program.c_str()));
    for (const auto& a : args)
        argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
        // A test that crashes or is killed by its timeout must not leave its servers running
        // (and holding their ports) behind it.
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (capture_stdout) dup2(fds[1], STDOUT_FILENO);
        if (capture_stderr) dup2(efds[1], STDERR_FILENO);
        execv(program.c_str(), argv.data());
        _exit(127);
    }
    if (capture_stdout) {
        close(fds[1]);
        out_.fd = fds[0];
    }
    if (capture_stderr) {
        close(efds[1]);
        err_.fd = efds[0];
    }
}

process::process(process&& o) noexcept {
    *this = std::move(o);
}

process& process::operator=(process&& o) noexcept {
    if (this != &o) {
        if (pid_ > 0 && !reaped_) stop(SIGKILL);
        out_.close();
        err_.close();
        pid_ = std::exchange(o.pid_, -1);
        out_ = std::exchange(o.out_, {});
        err_ = std::exchange(o.err_, {});
        stderr_seen_ = std::move(o.stderr_seen_);
        status_ = o.status_;
        reaped_ = std::exchange(o.reaped_, true);
    }
    return *this;
}

process::~process() {
    if (pid_ > 0 && !reaped_) stop(SIGKILL);
    out_.close();
    err_.close();
}

bool process::running() {
    if (pid_ <= 0 || reaped_) return false;
    int st = 0;
    pid_t r = waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
        reaped_ = true;
        status_ = st;
        return false;
    }
    return true;
}

void process::line_reader::close() {
    if (fd >= 0) ::close(fd);
    fd = -1;
}

std::string process::line_reader::read_line(std::chrono::milliseconds timeout, bool* ok) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        if (auto nl = pending.find('\n'); nl != std::string::npos) {
            std::string line = pending.substr(0, nl);
            pending.erase(0, nl + 1);
            if (ok) *ok = true;
            return line;
        }
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        // A zero timeout still takes what is already in the pipe.
        if (fd < 0 || left.count() < 0) break;
        pollfd p{fd, POLLIN, 0};
        int r = ::poll(&p, 1, static_cast<int>(left.count()));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        char buf[4096];
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n <= 0) break;
        pending.append(buf, static_cast<std::size_t>(n));
    }
    if (ok) *ok = false;
    return {};
}

std::string process::read_line(std::chrono::milliseconds timeout, bool* ok) {
    return out_.read_line(timeout, ok);
}

std::string process::read_stderr_line(std::chrono::milliseconds timeout, bool* ok) {
    bool got = false;
    std::string line = err_.read_line(timeout, &got);
    if (got) stderr_seen_.push_back(line);
    if (ok) *ok = got;
    return line;
}

std::string process::wait_for_stderr_line(const std::string& needle,
                                          std::chrono::milliseconds timeout) {
    return wait_for(needle, timeout,
                    [this](auto left, bool* ok) { return read_stderr_line(left, ok); });
}

const std::vector<std::string>& process::stderr_lines(std::chrono::milliseconds quiet) {
    bool ok = true;
    while (ok)
        read_stderr_line(quiet, &ok);
    return stderr_seen_;
}

std::string process::wait_for_line(const std::string& needle, std::chrono::milliseconds timeout) {
    return wait_for(needle, timeout, [this](auto left, bool* ok) { return read_line(left, ok); });
}

int process::wait(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (running()) {
        if (std::chrono::steady_clock::now() >= deadline) return -1000;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (pid_ <= 0) return -1000;
    if (WIFEXITED(status_)) return WEXITSTATUS(status_);
    if (WIFSIGNALED(status_)) return -WTERMSIG(status_);
    return -1000;
}

int process::stop(int signal, std::chrono::milliseconds timeout) {
    if (pid_ <= 0) return -1000;
    if (!reaped_) ::kill(pid_, signal);
    int r = wait(timeout);
    if (r == -1000 && signal != SIGKILL) {
        ::kill(pid_, SIGKILL);
        wait(std::chrono::seconds(5));
    }
    return r;
}

unsigned short free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        throw std::runtime_error("bind failed");
    }
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(fd);
    return ntohs(addr.sin_port);
}

int listen_loopback(unsigned short& port) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 64) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        ::close(fd);
        return -1;
    }
    port = ntohs(addr.sin_port);
    return fd;
}

std::string binary(const std::string& name) {
    for (const char* dir : {"/core/", "/bench/", "/"}) {
        std::string path = std::string(SLUICE_BINARY_DIR) + dir + name;
        if (::access(path.c_str(), X_OK) == 0) return path;
    }
    throw std::runtime_error("binary not built: " + name);
}

}  // namespace sluice::test
