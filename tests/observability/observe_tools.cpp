#include "observe_tools.hpp"

#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace observe_tools {

bool in_ci() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string_view(ci) == "true";
}

std::optional<std::string> find_tool(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= dirs.size()) {
    auto end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    const auto dir = dirs.substr(start, end - start);
    const auto full = (dir.empty() ? std::string(".") : dir) + "/" + name;
    if (::access(full.c_str(), X_OK) == 0) return full;
    start = end + 1;
  }
  return std::nullopt;
}

std::string make_temp_dir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp != nullptr ? tmp : "/tmp") + "/circuit_observe_XXXXXX";
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) return {};
  return buf.data();
}

bool write_file(const std::string& path, std::string_view text) {
  std::ofstream f(path, std::ios::binary);
  f.write(text.data(), static_cast<std::streamsize>(text.size()));
  return static_cast<bool>(f);
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

run_result run(const std::string& command, std::string_view input) {
  const auto dir = make_temp_dir();
  const auto in = dir + "/in", out = dir + "/out";
  write_file(in, input);
  const auto full = "(" + command + ") <'" + in + "' >'" + out + "' 2>&1";
  run_result r;
  const int rc = std::system(full.c_str());
  r.status = rc == -1 ? -1 : (WIFEXITED(rc) ? WEXITSTATUS(rc) : 128 + WTERMSIG(rc));
  r.output = read_file(out);
  std::remove(in.c_str());
  std::remove(out.c_str());
  ::rmdir(dir.c_str());
  return r;
}

namespace {

bool name_char(char c, bool first) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' || (!first && c >= '0' && c <= '9');
}

}  // namespace

exposition parse_prometheus(std::string_view text) {
  exposition e;
  std::size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    auto nl = text.find('\n');
    if (nl == std::string_view::npos) {
      e.errors.push_back("line " + std::to_string(line_no) + ": no final newline");
      nl = text.size();
    }
    const auto line = text.substr(0, nl);
    text.remove_prefix(nl == text.size() ? nl : nl + 1);
    const auto bad = [&](const std::string& why) {
      e.errors.push_back("line " + std::to_string(line_no) + ": " + why + ": " + std::string(line));
    };
    if (line.empty()) continue;
    if (line[0] == '#') {
      std::istringstream s{std::string(line)};
      std::string hash, keyword, name, rest;
      s >> hash >> keyword >> name;
      std::getline(s, rest);
      if (keyword == "HELP") {
        e.help_names.push_back(name);
      } else if (keyword == "TYPE") {
        e.type_names.push_back(name);
        e.types[name] = rest.empty() ? "" : rest.substr(1);
      }
      continue;
    }
    sample smp;
    std::size_t i = 0;
    while (i < line.size() && name_char(line[i], i == 0)) ++i;
    if (i == 0) {
      bad("no metric name");
      continue;
    }
    smp.name = std::string(line.substr(0, i));
    bool ok = true;
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (ok && i < line.size() && line[i] != '}') {
        const auto start = i;
        while (i < line.size() && name_char(line[i], i == start)) ++i;
        const auto label = std::string(line.substr(start, i - start));
        if (label.empty() || i + 1 >= line.size() || line[i] != '=' || line[i + 1] != '"') {
          ok = false;
          break;
        }
        i += 2;
        std::string value;
        while (i < line.size() && line[i] != '"') {
          if (line[i] == '\\') {
            if (i + 1 >= line.size()) {
              ok = false;
              break;
            }
            const char c = line[i + 1];
            if (c == 'n') {
              value += '\n';
            } else if (c == '\\' || c == '"') {
              value += c;
            } else {
              ok = false;
              break;
            }
            i += 2;
          } else {
            value += line[i++];
          }
        }
        if (!ok || i >= line.size()) {
          ok = false;
          break;
        }
        ++i;  // closing quote
        if (!smp.labels.emplace(label, value).second) {
          bad("label " + label + " twice");
          ok = false;
        }
        if (i < line.size() && line[i] == ',') ++i;
      }
      if (!ok || i >= line.size() || line[i] != '}') {
        bad("bad labels");
        continue;
      }
      ++i;
    }
    if (i >= line.size() || line[i] != ' ') {
      bad("no space before the value");
      continue;
    }
    smp.value = std::string(line.substr(i + 1));
    if (smp.value.empty() || smp.value.find(' ') != std::string::npos) {
      bad("bad value");
      continue;
    }
    e.samples.push_back(std::move(smp));
  }
  return e;
}

std::string series_key(const std::string& name, const std::map<std::string, std::string>& labels) {
  std::string key = name + "{";
  for (const auto& [k, v] : labels) key += k + "=\"" + v + "\"\x1f";
  return key + "}";
}

std::map<std::string, std::string> index_series(const exposition& e, std::vector<std::string>* duplicates) {
  std::map<std::string, std::string> index;
  for (const auto& s : e.samples) {
    if (!index.emplace(series_key(s.name, s.labels), s.value).second && duplicates != nullptr) {
      duplicates->push_back(series_key(s.name, s.labels));
    }
  }
  return index;
}

std::optional<std::string> value_of(const exposition& e, const std::string& name,
                                    const std::map<std::string, std::string>& labels) {
  for (const auto& s : e.samples) {
    if (s.name == name && s.labels == labels) return s.value;
  }
  return std::nullopt;
}

}  // namespace observe_tools
