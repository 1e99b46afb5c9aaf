#pragma once

#include <string>

namespace sluice::test {

// A file in /tmp (a rules file, most often), removed at the end of the test. Its contents are
// replaced atomically (written aside, renamed over), as an editor or a deployment tool would, so
// a reader such as a SIGHUP reload never sees half a file.
class temp_file {
  public:
    explicit temp_file(const std::string& text);
    ~temp_file();
    temp_file(const temp_file&) = delete;
    temp_file& operator=(const temp_file&) = delete;

    void write(const std::string& text) const;
    const std::string& path() const { return path_; }

  private:
    std::string path_;
};

}  // namespace sluice::test
