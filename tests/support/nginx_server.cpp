#include "tests/support/nginx_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace sluice::test {

namespace {

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
    for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
        text.replace(at, from.size(), to);
    return text;
}

void write_file(const std::filesystem::path& path, const std::string& content) {
    std::filesystem::create_directories(path.parent_path());
    std::ofstream out(path, std::ios::binary);
    out << content;
    if (!out) throw std::runtime_error("cannot write " + path.string());
}

bool accepts(unsigned short port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    return ok;
}

}  // namespace

nginx_server::nginx_server(const std::string& http_config,
                           const std::map<std::string, std::string>& files)
    : port_{free_port()} {
    if (::access(program, X_OK) != 0) {
        throw std::runtime_error(std::string(program) +
                                 " not found: install the nginx package (scripts/lib.sh does)");
    }
    std::string tmpl = (std::filesystem::temp_directory_path() / "sluice-nginx-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    for (const auto& [name, content] : files)
        write_file(std::filesystem::path(dir_) / name, content);

    // Everything nginx would otherwise write under /var (pid, logs, the temp paths compiled into
    // Debian's build) goes to the private directory, so a test needs no root and leaves nothing.
    std::ostringstream conf;
    conf << "master_process off;\n"
         << "pid " << dir_ << "/nginx.pid;\n"
         << "error_log " << dir_ << "/error.log info;\n"
         << "events { worker_connections 256; }\n"
         << "http {\n"
         << "    access_log off;\n"
         << "    client_body_temp_path " << dir_ << "/client_body;\n"
         << "    proxy_temp_path " << dir_ << "/proxy;\n"
         << "    fastcgi_temp_path " << dir_ << "/fastcgi;\n"
         << "    uwsgi_temp_path " << dir_ << "/uwsgi;\n"
         << "    scgi_temp_path " << dir_ << "/scgi;\n"
         << replace_all(replace_all(http_config, "@PORT@", std::to_string(port_)), "@DIR@", dir_)
         << "\n}\n";
    write_file(std::filesystem::path(dir_) / "nginx.conf", conf.str());

    proc_ = process(program,
                    {"-p", dir_ + "/", "-e", dir_ + "/error.log", "-c", dir_ + "/nginx.conf", "-g",
                     "daemon off;"},
                    /*capture_stdout=*/false);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!accepts(port_)) {
        if (!proc_.running() || std::chrono::steady_clock::now() > deadline) {
            const std::string log = error_log();
            stop();
            // A throwing constructor runs no destructor: the directory goes here or never.
            std::error_code ignored;
            std::filesystem::remove_all(dir_, ignored);
            throw std::runtime_error("nginx did not start on port " + std::to_string(port_) +
                                     ":\n" + log);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

nginx_server::~nginx_server() {
    stop();
    std::error_code ignored;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ignored);
}

void nginx_server::stop() {
    if (proc_.pid() > 0 && proc_.running()) proc_.stop(SIGTERM, std::chrono::seconds(5));
}

std::string nginx_server::error_log() const {
    std::ifstream in(dir_ + "/error.log");
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

}  // namespace sluice::test
