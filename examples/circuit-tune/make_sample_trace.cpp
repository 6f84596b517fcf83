// Writes examples/sample_trace.csv: a made-up but realistic day of calls to
// three peers, the same bytes on every run (a fixed-seed generator, integer
// arithmetic only):
//
//   - all day: a healthy baseline, about 0.5% failures;
//   - 06:30: a blip on `api`, four failures within 20 s;
//   - 09:00-09:20: a hard outage of `db` (503 at once, or a 5 s timeout);
//   - 13:00-14:00: `api` flaps: 40 s of 60% failures every 2 minutes;
//   - 17:00-17:45: `search` is slow (1.5-4 s) but answers.
//
// Usage: make_sample_trace [OUT.csv]   (standard output without OUT)

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace {

// splitmix64: small, fast, and the same everywhere.
struct generator {
  std::uint64_t s;
  std::uint64_t next() {
    std::uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n).
  std::uint64_t below(std::uint64_t n) { return next() % n; }
  // True with probability per_mille / 1000.
  bool chance(std::uint64_t per_mille) { return below(1000) < per_mille; }
};

constexpr std::int64_t day_start_ms = 1796342400000;  // 2026-12-04T00:00:00Z
constexpr std::int64_t hour_ms = 3'600'000, minute_ms = 60'000;

struct row {
  std::int64_t at_ms;
  int status;
  std::int64_t latency_us;
  const char* peer;
};

struct peer_profile {
  const char* name;
  std::int64_t mean_gap_ms;     // between calls
  std::int64_t base_latency_us;  // typical latency
};

std::string rfc3339(std::int64_t ms) {
  const auto s = ms / 1000, sub = ms % 1000;
  const auto day_s = s % 86400;
  char b[40];
  // The whole trace lies within 2026-12-04.
  std::snprintf(b, sizeof b, "2026-12-04T%02d:%02d:%02d.%03dZ", static_cast<int>(day_s / 3600),
                static_cast<int>(day_s / 60 % 60), static_cast<int>(day_s % 60), static_cast<int>(sub));
  return b;
}

}  // namespace

int main(int argc, char** argv) {
  std::FILE* out = argc > 1 ? std::fopen(argv[1], "wb") : stdout;
  if (out == nullptr) {
    std::perror(argv[1]);
    return 1;
  }
  generator g{20261204};
  const std::vector<peer_profile> peers = {{"api", 2000, 25'000}, {"db", 3000, 4'000}, {"search", 5000, 60'000}};
  std::vector<row> rows;
  for (const auto& p : peers) {
    std::int64_t t = day_start_ms + static_cast<std::int64_t>(g.below(static_cast<std::uint64_t>(p.mean_gap_ms)));
    const std::string name = p.name;
    while (t < day_start_ms + 24 * hour_ms) {
      const auto of_day = t - day_start_ms;
      // Baseline: ~0.5% failures, latency base * (0.5 .. 2) with a rare slow tail.
      int status = g.chance(5) ? 503 : 200;
      auto latency = p.base_latency_us / 2 + static_cast<std::int64_t>(g.below(static_cast<std::uint64_t>(
                                                 p.base_latency_us * 3 / 2)));
      if (g.chance(3)) latency *= 8;
      if (name == "api" && of_day >= 6 * hour_ms + 30 * minute_ms && of_day < 6 * hour_ms + 30 * minute_ms + 20'000) {
        status = 500;  // the blip
      }
      if (name == "db" && of_day >= 9 * hour_ms && of_day < 9 * hour_ms + 20 * minute_ms) {
        if (g.chance(700)) {
          status = 503;
          latency = 800 + static_cast<std::int64_t>(g.below(1500));
        } else {
          status = 504;
          latency = 5'000'000;
        }
      }
      if (name == "api" && of_day >= 13 * hour_ms && of_day < 14 * hour_ms && (of_day % (2 * minute_ms)) < 40'000) {
        status = g.chance(600) ? 502 : 200;
      }
      if (name == "search" && of_day >= 17 * hour_ms && of_day < 17 * hour_ms + 45 * minute_ms) {
        latency = 1'500'000 + static_cast<std::int64_t>(g.below(2'500'000));
      }
      rows.push_back({t, status, latency, p.name});
      // Gaps uniform in [gap/4, 7*gap/4): about one call per `mean_gap_ms`.
      t += p.mean_gap_ms / 4 + static_cast<std::int64_t>(g.below(static_cast<std::uint64_t>(p.mean_gap_ms * 3 / 2)));
      if (name == "api" && of_day < 6 * hour_ms + 30 * minute_ms && t - day_start_ms >= 6 * hour_ms + 30 * minute_ms) {
        t = day_start_ms + 6 * hour_ms + 30 * minute_ms + 1'000;  // the blip's calls come 4 s apart
      }
      if (name == "api" && t - day_start_ms >= 6 * hour_ms + 30 * minute_ms &&
          t - day_start_ms < 6 * hour_ms + 30 * minute_ms + 20'000) {
        t = rows.back().at_ms + 4'000;
      }
    }
  }
  // By start time (ties by peer order), as an access log would be.
  std::stable_sort(rows.begin(), rows.end(), [](const row& x, const row& y) { return x.at_ms < y.at_ms; });
  std::fprintf(out, "timestamp,outcome,latency_ms,peer\n");
  for (const auto& r : rows) {
    std::fprintf(out, "%s,%d,%lld.%03lld,%s\n", rfc3339(r.at_ms).c_str(), r.status,
                 static_cast<long long>(r.latency_us / 1000), static_cast<long long>(r.latency_us % 1000), r.peer);
  }
  return std::fclose(out) == 0 ? 0 : 1;
}
