// Tests: the process's stderr read by the process itself, for output gcrt
// writes from a thread of its own (the census on a signal).
#pragma once

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "gcrt/gc.h"

namespace gc::testing {

// Fd 2 into a pipe this process reads, until Restore.
class StderrCapture {
 public:
  StderrCapture() {
    int fds[2];
    if (::pipe(fds) != 0 || (saved_ = ::dup(2)) < 0 || ::dup2(fds[1], 2) < 0) {
      std::perror("StderrCapture");
      std::_Exit(2);
    }
    ::close(fds[1]);
    read_fd_ = fds[0];
  }
  // Reads until `needle` has been written (what was read, with it), or
  // fails the process if nothing comes for a minute.
  std::string ReadUntil(const std::string& needle) {
    for (;;) {
      size_t found = seen_.find(needle);
      if (found != std::string::npos) {
        std::string text = seen_.substr(0, found + needle.size());
        seen_.erase(0, found + needle.size());
        return text;
      }
      pollfd p{read_fd_, POLLIN, 0};
      char buf[4096];
      ssize_t n;
      int error;
      {
        // The census stops the world: this thread waits outside it.
        gc::Blocking blocking;
        const int ready = ::poll(&p, 1, 60'000);
        n = ready == 1 ? ::read(read_fd_, buf, sizeof buf) : -1;
        error = errno;
      }
      // The census signal may interrupt this thread's wait.
      if (n < 0 && error == EINTR) continue;
      if (n <= 0) {
        Restore();
        std::fprintf(stderr, "no \"%s\" on stderr; got:\n%s\n", needle.c_str(),
                     seen_.c_str());
        std::_Exit(3);
      }
      seen_.append(buf, static_cast<size_t>(n));
    }
  }
  // What was written and not read yet, without waiting: for a failure's
  // report (a forked child's, written here after it restored its stderr).
  std::string ReadAvailable() {
    std::string text;
    text.swap(seen_);
    char buf[4096];
    pollfd p{read_fd_, POLLIN, 0};
    while (::poll(&p, 1, 0) == 1) {
      const ssize_t n = ::read(read_fd_, buf, sizeof buf);
      if (n <= 0) break;
      text.append(buf, static_cast<size_t>(n));
    }
    return text;
  }
  void Restore() { ::dup2(saved_, 2); }

 private:
  int saved_ = -1;
  int read_fd_ = -1;
  std::string seen_;
};

}  // namespace gc::testing
