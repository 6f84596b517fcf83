#pragma once
// Running circuit-tune as a process, and finding the tools the tests need.

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <sys/wait.h>
#include <vector>

#include "catch.hpp"

namespace tune_test {

inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline void write_file(const std::filesystem::path& p, const std::string& text) {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

// Single-quoted for sh.
inline std::string quote(const std::string& s) {
  std::string out = "'";
  for (const char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

struct result {
  int status = -1;
  std::string out, err;
};

// Runs `command` (a shell line), capturing its standard output and error.
inline result shell(const std::string& command, const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  const auto out = dir / "stdout.txt", err = dir / "stderr.txt";
  const auto line = command + " >" + quote(out.string()) + " 2>" + quote(err.string()) + " </dev/null";
  const int raw = std::system(line.c_str());
  result r;
  r.status = raw == -1 ? -1 : (WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw));
  r.out = read_file(out);
  r.err = read_file(err);
  return r;
}

// circuit-tune with `args`, each quoted.
inline result tune(const std::vector<std::string>& args, const std::filesystem::path& dir) {
  std::string line = quote(CIRCUIT_TUNE_PROGRAM);
  for (const auto& a : args) line += " " + quote(a);
  return shell(line, dir);
}

// A fresh directory under the build tree for one test.
inline std::filesystem::path work_dir(const std::string& name) {
  const auto d = std::filesystem::path(CIRCUIT_TUNE_WORK_DIR) / name;
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d;
}

inline bool in_ci() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string(ci) == "true";
}

// True when `program` is on the PATH (or an existing path); otherwise
// skips the test with a message, or fails it under CI=true.
inline bool have_tool(const std::string& program, const std::string& package) {
  const bool found = std::system(("command -v " + quote(program) + " >/dev/null 2>&1").c_str()) == 0;
  if (found) return true;
  if (in_ci()) {
    FAIL(program << " is missing (Debian package " << package << "): needed under CI=true");
  } else {
    WARN("SKIPPED: " << program << " is missing (Debian package " << package << ")");
  }
  return false;
}

}  // namespace tune_test
