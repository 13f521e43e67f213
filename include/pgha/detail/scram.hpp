// pgha/detail/scram.hpp: SCRAM-SHA-256 secrets computed here, so the server stores a
// password without hashing it (RFC 5802/7677, as PostgreSQL stores them:
// "SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>", base64).
//
// Why: a plain-text password costs the server one PBKDF2 of 4096 iterations when it is set
// (5-7 ms here) and every client one more at each connection over TCP, the standby's
// wal receiver included. pgha's servers listen on 127.0.0.1 only and their passwords are
// 96 random bits, so the key stretching protects nothing: the secrets pgha sets use 16
// iterations, which makes setting them and connecting with them take microseconds.
#pragma once

#include <sys/random.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

#include "pgha/error.hpp"

namespace pgha::detail {

class Sha256 {
public:
  Sha256() noexcept { reset(); }
  void reset() noexcept {
    static const std::uint32_t init[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                          0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    std::memcpy(h_, init, sizeof h_);
    len_ = 0;
    used_ = 0;
  }
  void update(const void* data, std::size_t n) noexcept {
    const unsigned char* p = static_cast<const unsigned char*>(data);
    len_ += n;
    while (n > 0) {
      std::size_t take = 64 - used_ < n ? 64 - used_ : n;
      std::memcpy(buf_ + used_, p, take);
      used_ += take;
      p += take;
      n -= take;
      if (used_ == 64) {
        block(buf_);
        used_ = 0;
      }
    }
  }
  void update(const std::string& s) noexcept { update(s.data(), s.size()); }
  /// The 32-byte digest; the object must be reset() before it is used again.
  std::string digest() noexcept {
    std::uint64_t bits = len_ * 8;
    unsigned char pad = 0x80;
    update(&pad, 1);
    unsigned char zero = 0;
    while (used_ != 56) update(&zero, 1);
    unsigned char l[8];
    for (int i = 0; i < 8; ++i) l[i] = static_cast<unsigned char>(bits >> (56 - 8 * i));
    update(l, 8);
    std::string out(32, '\0');
    for (int i = 0; i < 8; ++i)
      for (int j = 0; j < 4; ++j) out[4 * i + j] = static_cast<char>(h_[i] >> (24 - 8 * j));
    return out;
  }
  static std::string of(const std::string& s) {
    Sha256 h;
    h.update(s);
    return h.digest();
  }

private:
  static std::uint32_t rotr(std::uint32_t x, int n) noexcept { return (x >> n) | (x << (32 - n)); }
  void block(const unsigned char* b) noexcept {
    static const std::uint32_t k[64] = {
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};
    std::uint32_t w[64];
    for (int i = 0; i < 16; ++i)
      w[i] = std::uint32_t(b[4 * i]) << 24 | std::uint32_t(b[4 * i + 1]) << 16 |
             std::uint32_t(b[4 * i + 2]) << 8 | std::uint32_t(b[4 * i + 3]);
    for (int i = 16; i < 64; ++i) {
      std::uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
      std::uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    std::uint32_t a = h_[0], bb = h_[1], c = h_[2], d = h_[3], e = h_[4], f = h_[5], g = h_[6], h = h_[7];
    for (int i = 0; i < 64; ++i) {
      std::uint32_t t1 = h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + k[i] + w[i];
      std::uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & bb) ^ (a & c) ^ (bb & c));
      h = g; g = f; f = e; e = d + t1; d = c; c = bb; bb = a; a = t1 + t2;
    }
    h_[0] += a; h_[1] += bb; h_[2] += c; h_[3] += d; h_[4] += e; h_[5] += f; h_[6] += g; h_[7] += h;
  }
  std::uint32_t h_[8];
  std::uint64_t len_;
  unsigned char buf_[64];
  std::size_t used_;
};

inline std::string hmac_sha256(const std::string& key, const std::string& msg) {
  std::string k = key.size() > 64 ? Sha256::of(key) : key;
  k.resize(64, '\0');
  std::string ipad(64, '\0'), opad(64, '\0');
  for (int i = 0; i < 64; ++i) {
    ipad[i] = static_cast<char>(k[i] ^ 0x36);
    opad[i] = static_cast<char>(k[i] ^ 0x5c);
  }
  return Sha256::of(opad + Sha256::of(ipad + msg));
}

inline std::string base64(const std::string& in) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v = unsigned(static_cast<unsigned char>(in[i])) << 16 |
                 unsigned(static_cast<unsigned char>(in[i + 1])) << 8 | static_cast<unsigned char>(in[i + 2]);
    out += t[v >> 18]; out += t[(v >> 12) & 63]; out += t[(v >> 6) & 63]; out += t[v & 63];
  }
  if (i + 1 == in.size()) {
    unsigned v = unsigned(static_cast<unsigned char>(in[i])) << 16;
    out += t[v >> 18]; out += t[(v >> 12) & 63]; out += "==";
  } else if (i + 2 == in.size()) {
    unsigned v = unsigned(static_cast<unsigned char>(in[i])) << 16 | unsigned(static_cast<unsigned char>(in[i + 1])) << 8;
    out += t[v >> 18]; out += t[(v >> 12) & 63]; out += t[(v >> 6) & 63]; out += '=';
  }
  return out;
}

/// The SCRAM-SHA-256 secret of `password` (printable ASCII: SASLprep leaves it as it is)
/// with `salt` and `iterations`, as PostgreSQL stores it in pg_authid.rolpassword.
inline std::string scram_secret(const std::string& password, const std::string& salt, int iterations) {
  // PBKDF2-HMAC-SHA-256 with one output block: U1 = HMAC(P, salt || INT(1)), Ui = HMAC(P, Ui-1).
  std::string u = hmac_sha256(password, salt + std::string("\0\0\0\1", 4));
  std::string salted = u;
  for (int i = 1; i < iterations; ++i) {
    u = hmac_sha256(password, u);
    for (std::size_t j = 0; j < salted.size(); ++j) salted[j] = static_cast<char>(salted[j] ^ u[j]);
  }
  std::string stored = Sha256::of(hmac_sha256(salted, "Client Key"));
  std::string server = hmac_sha256(salted, "Server Key");
  return "SCRAM-SHA-256$" + std::to_string(iterations) + ":" + base64(salt) + "$" + base64(stored) +
         ":" + base64(server);
}

/// `n` bytes from the kernel's random source (getrandom(2); no <random> in the header).
inline std::string random_bytes(std::size_t n) {
  std::string out(n, '\0');
  std::size_t got = 0;
  while (got < n) {
    ssize_t r = ::getrandom(&out[got], n - got, 0);
    if (r > 0) got += static_cast<std::size_t>(r);
    else if (errno != EINTR) throw SetupError(std::string("getrandom() failed: ") + std::strerror(errno));
  }
  return out;
}

/// A secret for `password` with a fresh random salt and pgha's 16 iterations.
inline std::string scram_secret(const std::string& password) {
  return scram_secret(password, random_bytes(16), 16);
}

}  // namespace pgha::detail
