/// \file png_writer.hpp
/// A minimal PNG writer for the attacks' figures (reconstructed images, triggers): 8-bit grey,
/// no dependency. The image data is one zlib stream of stored (uncompressed) deflate blocks
/// (RFC 1950/1951), so the file is about width × height bytes; chunk CRC-32 and the zlib
/// Adler-32 are computed here (PNG specification, ISO/IEC 15948, Sec. 5 and Annex D).
#pragma once

#include "fedpp/error.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <span>
#include <string>
#include <vector>

namespace fedpp::audit {

namespace detail {
inline std::uint32_t png_crc32(std::span<const std::uint8_t> bytes, std::uint32_t crc = 0) noexcept {
  crc = ~crc;
  for (std::uint8_t b : bytes) {
    crc ^= b;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}
inline void put_be32(std::vector<std::uint8_t>& out, std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<std::uint8_t>(v >> s));
}
inline void put_chunk(std::vector<std::uint8_t>& file, const char type[4],
                      std::span<const std::uint8_t> data) {
  put_be32(file, static_cast<std::uint32_t>(data.size()));
  const std::size_t start = file.size();
  file.insert(file.end(), type, type + 4);
  file.insert(file.end(), data.begin(), data.end());
  put_be32(file, png_crc32(std::span<const std::uint8_t>(file).subspan(start)));
}
} // namespace detail

/// The bytes of an 8-bit greyscale PNG of `width` × `height` pixels (row-major `pixels`).
/// Throws invalid_config for a zero or too large size or a pixel count that does not match.
[[nodiscard]] inline std::vector<std::uint8_t> encode_png_gray(std::size_t width, std::size_t height,
                                                               std::span<const std::uint8_t> pixels) {
  if (width == 0 || height == 0 || width > (1u << 24) || height > (1u << 24) ||
      pixels.size() / width != height || pixels.size() % width != 0)
    throw invalid_config("encode_png_gray: " + std::to_string(pixels.size()) + " pixels for a " +
                         std::to_string(width) + "x" + std::to_string(height) + " image");
  std::vector<std::uint8_t> raw; // each row: filter byte 0 (None), then the pixels
  raw.reserve(height * (width + 1));
  for (std::size_t r = 0; r < height; ++r) {
    raw.push_back(0);
    raw.insert(raw.end(), pixels.begin() + static_cast<std::ptrdiff_t>(r * width),
               pixels.begin() + static_cast<std::ptrdiff_t>((r + 1) * width));
  }
  std::vector<std::uint8_t> z{0x78, 0x01}; // zlib header: deflate, 32 KiB window, check bits
  for (std::size_t at = 0; at < raw.size() || at == 0;) {
    const std::size_t len = std::min<std::size_t>(65535, raw.size() - at);
    z.push_back(at + len == raw.size() ? 1 : 0); // BFINAL, BTYPE = 00 (stored)
    z.push_back(static_cast<std::uint8_t>(len));
    z.push_back(static_cast<std::uint8_t>(len >> 8));
    z.push_back(static_cast<std::uint8_t>(~len));
    z.push_back(static_cast<std::uint8_t>(~len >> 8));
    z.insert(z.end(), raw.begin() + static_cast<std::ptrdiff_t>(at),
             raw.begin() + static_cast<std::ptrdiff_t>(at + len));
    at += len;
    if (at == raw.size()) break;
  }
  std::uint32_t a = 1, b = 0; // Adler-32 of the uncompressed data
  for (std::uint8_t v : raw) {
    a = (a + v) % 65521;
    b = (b + a) % 65521;
  }
  detail::put_be32(z, (b << 16) | a);
  std::vector<std::uint8_t> file{0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  std::vector<std::uint8_t> ihdr;
  detail::put_be32(ihdr, static_cast<std::uint32_t>(width));
  detail::put_be32(ihdr, static_cast<std::uint32_t>(height));
  ihdr.insert(ihdr.end(),
              {8, 0, 0, 0, 0}); // bit depth 8, colour type 0 (grey), deflate, filter 0, no interlace
  detail::put_chunk(file, "IHDR", ihdr);
  detail::put_chunk(file, "IDAT", z);
  detail::put_chunk(file, "IEND", {});
  return file;
}

/// Writes encode_png_gray's bytes to `path`; throws invalid_config when the file cannot be written.
inline void write_png_gray(const std::string& path, std::size_t width, std::size_t height,
                           std::span<const std::uint8_t> pixels) {
  const auto bytes = encode_png_gray(width, height, pixels);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw invalid_config("write_png_gray: cannot write '" + path + "'");
}

/// A grid of equally sized grey images (values in [0, 1], clamped; NaN as 0) with `pad` black
/// pixels between cells: images are placed row by row, `columns` per row. Returns the 8-bit
/// pixels and sets `width`/`height`. Throws invalid_config for sizes that do not match.
template <class T>
[[nodiscard]] std::vector<std::uint8_t> image_grid(std::span<const T> images, std::size_t image_width,
                                                   std::size_t image_height, std::size_t columns,
                                                   std::size_t pad, std::size_t& width, std::size_t& height) {
  const std::size_t per = image_width * image_height;
  if (per == 0 || columns == 0 || images.empty() || images.size() % per != 0)
    throw invalid_config("image_grid: " + std::to_string(images.size()) + " values are not images of " +
                         std::to_string(image_width) + "x" + std::to_string(image_height) + " in " +
                         std::to_string(columns) + " columns");
  const std::size_t count = images.size() / per, cols = std::min(columns, count),
                    rows = (count + cols - 1) / cols;
  width = cols * image_width + (cols + 1) * pad;
  height = rows * image_height + (rows + 1) * pad;
  std::vector<std::uint8_t> out(width * height, 0);
  for (std::size_t k = 0; k < count; ++k) {
    const std::size_t x0 = pad + (k % cols) * (image_width + pad),
                      y0 = pad + (k / cols) * (image_height + pad);
    for (std::size_t r = 0; r < image_height; ++r)
      for (std::size_t c = 0; c < image_width; ++c) {
        const double v = static_cast<double>(images[k * per + r * image_width + c]);
        const double clamped = std::isnan(v) ? 0.0 : std::clamp(v, 0.0, 1.0);
        out[(y0 + r) * width + x0 + c] = static_cast<std::uint8_t>(std::lround(255 * clamped));
      }
  }
  return out;
}

} // namespace fedpp::audit
