#include "tests/support/temp_file.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

namespace sluice::test {

temp_file::temp_file(const std::string& text) {
    char name[] = "/tmp/sluice-test-XXXXXX";
    const int fd = ::mkstemp(name);
    ::close(fd);
    path_ = name;
    write(text);
}

temp_file::~temp_file() {
    std::remove(path_.c_str());
}

void temp_file::write(const std::string& text) const {
    const std::string aside = path_ + ".new";
    std::ofstream(aside) << text;
    std::rename(aside.c_str(), path_.c_str());
}

}  // namespace sluice::test
