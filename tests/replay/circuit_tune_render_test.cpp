// circuit-tune's HTML report as a browser draws it: a headless Chromium
// screenshot, decoded here (PNG via zlib), must show the open spell of a
// hand-computed trace as a band of the open colour, where it belongs.

#include <array>
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>
#include <zlib.h>

#include "catch.hpp"
#include "tune.hpp"
#include "tune_test_support.hpp"

namespace {

using namespace tune_test;
namespace fs = std::filesystem;

// An 8-bit RGB or RGBA, non-interlaced PNG (what Chromium writes), as RGB.
struct image {
  int width = 0, height = 0;
  std::vector<std::uint8_t> rgb;
  [[nodiscard]] std::array<int, 3> at(int x, int y) const {
    const auto i = (static_cast<std::size_t>(y) * static_cast<std::size_t>(width) + static_cast<std::size_t>(x)) * 3;
    return {rgb[i], rgb[i + 1], rgb[i + 2]};
  }
};

std::uint32_t be32(const std::string& s, std::size_t at) {
  return (std::uint32_t{static_cast<std::uint8_t>(s[at])} << 24) |
         (std::uint32_t{static_cast<std::uint8_t>(s[at + 1])} << 16) |
         (std::uint32_t{static_cast<std::uint8_t>(s[at + 2])} << 8) | std::uint32_t{static_cast<std::uint8_t>(s[at + 3])};
}

int paeth(int a, int b, int c) {
  const int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
  return pa <= pb && pa <= pc ? a : (pb <= pc ? b : c);
}

image decode_png(const std::string& png) {
  if (png.size() < 8 || png.compare(0, 8, "\x89PNG\r\n\x1a\n") != 0) throw std::runtime_error("not a PNG");
  image img;
  int channels = 0;
  std::string idat;
  for (std::size_t at = 8; at + 8 <= png.size();) {
    const auto length = be32(png, at);
    const auto type = png.substr(at + 4, 4);
    const auto data = png.substr(at + 8, length);
    if (type == "IHDR") {
      img.width = static_cast<int>(be32(data, 0));
      img.height = static_cast<int>(be32(data, 4));
      const int depth = static_cast<std::uint8_t>(data[8]), colour = static_cast<std::uint8_t>(data[9]);
      if (depth != 8 || (colour != 2 && colour != 6) || data[12] != 0) {
        throw std::runtime_error("unsupported PNG: depth " + std::to_string(depth) + ", colour type " +
                                 std::to_string(colour));
      }
      channels = colour == 6 ? 4 : 3;
    } else if (type == "IDAT") {
      idat += data;
    } else if (type == "IEND") {
      break;
    }
    at += 12 + length;
  }
  const auto stride = static_cast<std::size_t>(img.width) * static_cast<std::size_t>(channels);
  std::vector<std::uint8_t> raw((stride + 1) * static_cast<std::size_t>(img.height));
  uLongf size = static_cast<uLongf>(raw.size());
  if (uncompress(raw.data(), &size, reinterpret_cast<const Bytef*>(idat.data()), static_cast<uLong>(idat.size())) !=
          Z_OK ||
      size != raw.size()) {
    throw std::runtime_error("bad PNG data");
  }
  std::vector<std::uint8_t> pixels(stride * static_cast<std::size_t>(img.height));
  for (int y = 0; y < img.height; ++y) {
    const auto* line = &raw[static_cast<std::size_t>(y) * (stride + 1)];
    auto* out = &pixels[static_cast<std::size_t>(y) * stride];
    const auto* up = y > 0 ? out - stride : nullptr;
    for (std::size_t i = 0; i < stride; ++i) {
      const int a = i >= static_cast<std::size_t>(channels) ? out[i - static_cast<std::size_t>(channels)] : 0;
      const int b = up ? up[i] : 0;
      const int c = up && i >= static_cast<std::size_t>(channels) ? up[i - static_cast<std::size_t>(channels)] : 0;
      int v = line[1 + i];
      switch (line[0]) {
        case 0: break;
        case 1: v += a; break;
        case 2: v += b; break;
        case 3: v += (a + b) / 2; break;
        case 4: v += paeth(a, b, c); break;
        default: throw std::runtime_error("bad PNG filter");
      }
      out[i] = static_cast<std::uint8_t>(v);
    }
  }
  img.rgb.resize(static_cast<std::size_t>(img.width) * static_cast<std::size_t>(img.height) * 3);
  for (std::size_t p = 0; p < static_cast<std::size_t>(img.width) * static_cast<std::size_t>(img.height); ++p) {
    for (int k = 0; k < 3; ++k) img.rgb[p * 3 + static_cast<std::size_t>(k)] = pixels[p * static_cast<std::size_t>(channels) + static_cast<std::size_t>(k)];
  }
  return img;
}

std::array<int, 3> colour(std::string_view hex) {
  const auto v = std::stoi(std::string(hex.substr(1)), nullptr, 16);
  return {(v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff};
}

bool near(const std::array<int, 3>& a, const std::array<int, 3>& b) {
  return std::abs(a[0] - b[0]) <= 6 && std::abs(a[1] - b[1]) <= 6 && std::abs(a[2] - b[2]) <= 6;
}

// Runs of one colour on row y: (first x, length).
std::vector<std::pair<int, int>> runs(const image& img, int y, const std::array<int, 3>& c) {
  std::vector<std::pair<int, int>> out;
  for (int x = 0; x < img.width;) {
    if (!near(img.at(x, y), c)) {
      ++x;
      continue;
    }
    int e = x;
    while (e < img.width && near(img.at(e, y), c)) ++e;
    out.emplace_back(x, e - x);
    x = e;
  }
  return out;
}

}  // namespace

TEST_CASE("circuit-tune: the HTML report renders its open band in the open colour, in the right place") {
  const auto dir = work_dir("render");
  // Open from 42 s to 52 s of a 61 s trace (see circuit_tune_test).
  write_file(dir / "trip.csv",
             "timestamp,outcome,latency_ms\n1700000000,failure,1000\n1700000010,failure,1000\n"
             "1700000020,success,1000\n1700000030,failure,1000\n1700000040,failure,2000\n"
             "1700000045,success,1000\n1700000050,failure,1000\n1700000051,ignored,500\n"
             "1700000055,success,1000\n1700000060,success,1000\n");
  const auto r = tune({(dir / "trip.csv").string(), "--config", "sliding_window max_failures=3 window=60s open_for=10s",
                       "--html", (dir / "report.html").string()},
                      dir / "run");
  INFO(r.err);
  REQUIRE(r.status == 0);
  if (!have_tool("/usr/bin/chromium", "chromium")) return;

  const auto profile = dir / "profile";
  fs::create_directories(profile);
  const auto shot = dir / "shot.png";
  const auto line = std::string("timeout 120 /usr/bin/chromium --headless --no-sandbox --disable-gpu --disable-quic "
                                "--no-first-run --disable-background-networking --disable-component-update "
                                "--disable-sync --hide-scrollbars --force-device-scale-factor=1 --user-data-dir=") +
                    quote(profile.string()) + " --screenshot=" + quote(shot.string()) +
                    " --window-size=1200,1000 " + quote("file://" + (dir / "report.html").string());
  const auto c = shell(line, dir / "chromium");
  INFO(c.err);
  REQUIRE(c.status == 0);
  REQUIRE(fs::exists(shot));
  const auto img = decode_png(read_file(shot));
  REQUIRE(img.width == 1200);

  // The state band: the first row with a long run of the open colour.
  const auto open = colour(circuit_tune::colour_of(circuit::state::open));
  const auto closed = colour(circuit_tune::colour_of(circuit::state::closed));
  const auto half_open = colour(circuit_tune::colour_of(circuit::state::half_open));
  int row = -1;
  std::pair<int, int> band{};
  for (int y = 0; y < img.height && row < 0; ++y) {
    for (const auto& run : runs(img, y, open)) {
      if (run.second > 100) {
        row = y + 10;  // well inside the band
        band = run;
      }
    }
  }
  REQUIRE(row >= 0);
  const auto open_runs = runs(img, row, open);
  REQUIRE(!open_runs.empty());
  band = open_runs.front();
  // 10 s of 61 s over 1000 pixels: 164 px (the two edge columns are shared).
  CHECK(band.second >= 161);
  CHECK(band.second <= 166);
  // Closed before it, from the band's start: 42 s of 61 s, 689 px.
  const auto closed_runs = runs(img, row, closed);
  REQUIRE(!closed_runs.empty());
  const auto start = closed_runs.front().first;
  CHECK(closed_runs.front().second >= 686);
  CHECK(closed_runs.front().second <= 690);
  CHECK(band.first - start >= 687);
  CHECK(band.first - start <= 690);
  // Half_open right after it: 52..56 s, about 66 px.
  const auto half = runs(img, row, half_open);
  REQUIRE(!half.empty());
  CHECK(half.front().first >= band.first + band.second - 1);
  CHECK(half.front().first <= band.first + band.second + 1);
  CHECK(half.front().second >= 62);
  CHECK(half.front().second <= 67);
}
