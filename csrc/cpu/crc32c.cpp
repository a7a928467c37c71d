// CRC-32C over a byte buffer, two ways:
//   portable: slicing-by-8. Eight 256-entry tables; table[k][b] is the CRC of byte b followed by
//     k zero bytes, so 8 input bytes fold into the CRC with 8 lookups and one 64-bit xor
//     (Intel's "slicing-by-8", Kounavis & Berry 2005). Byte-at-a-time for the unaligned head
//     and the tail, and everywhere on big-endian targets.
//   sse4.2: the crc32 instruction (_mm_crc32_u64, 8 bytes per instruction), compiled for this
//     one function with __attribute__((target("sse4.2"))) and entered only after
//     __builtin_cpu_supports("sse4.2"), as gemm.cpp does for AVX2/AVX-512.
// data: n contiguous bytes, any alignment. Both give the same value; tests/test_crc32c.py checks
// each against RFC 3720 vectors and a bitwise Python reference.
//   Test:  tools/dev-build.sh && PYTHONPATH=python python3 -m pytest -q tests/test_crc32c.py
//   Bench (16 MiB a loop; add impl='portable' for the table path):
//     PYTHONPATH=python python3 -m timeit -s "from nabi import _C; b=bytes(1<<24)" "_C.crc32c(b)"
#include "cpu/crc32c.h"

#include <cstdlib>
#include <cstring>

#if defined(NABI_X86)
#include <immintrin.h>
#endif

namespace nabi::cpu {
namespace {

constexpr uint32_t kPoly = 0x82F63B78u;

struct Tables {
  uint32_t t[8][256];
  Tables() {
    for (uint32_t b = 0; b < 256; ++b) {
      uint32_t c = b;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kPoly : c >> 1;
      t[0][b] = c;
    }
    for (uint32_t b = 0; b < 256; ++b)
      for (int k = 1; k < 8; ++k) t[k][b] = (t[k - 1][b] >> 8) ^ t[0][t[k - 1][b] & 0xFF];
  }
};

const Tables& tables() {
  static const Tables tab;  // built once, thread-safe (C++11 static init)
  return tab;
}

// On the inverted register (no pre/post inversion here).
uint32_t crc_portable(uint32_t c, const uint8_t* p, size_t n) {
  const auto& t = tables().t;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  while (n && (reinterpret_cast<uintptr_t>(p) & 7)) {
    c = t[0][(c ^ *p++) & 0xFF] ^ (c >> 8);
    --n;
  }
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    w ^= c;
    c = t[7][w & 0xFF] ^ t[6][(w >> 8) & 0xFF] ^ t[5][(w >> 16) & 0xFF] ^
        t[4][(w >> 24) & 0xFF] ^ t[3][(w >> 32) & 0xFF] ^ t[2][(w >> 40) & 0xFF] ^
        t[1][(w >> 48) & 0xFF] ^ t[0][w >> 56];
    p += 8;
    n -= 8;
  }
#endif
  while (n--) c = t[0][(c ^ *p++) & 0xFF] ^ (c >> 8);
  return c;
}

#if defined(NABI_X86)
__attribute__((target("sse4.2"))) uint32_t crc_sse42(uint32_t c, const uint8_t* p, size_t n) {
  while (n && (reinterpret_cast<uintptr_t>(p) & 7)) {
    c = _mm_crc32_u8(c, *p++);
    --n;
  }
  uint64_t c64 = c;
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    c64 = _mm_crc32_u64(c64, w);
    p += 8;
    n -= 8;
  }
  c = static_cast<uint32_t>(c64);
  while (n--) c = _mm_crc32_u8(c, *p++);
  return c;
}
#endif

using CrcFn = uint32_t (*)(uint32_t, const uint8_t*, size_t);

bool has_sse42() {
#if defined(NABI_X86)
  __builtin_cpu_init();
  return __builtin_cpu_supports("sse4.2");
#else
  return false;
#endif
}

CrcFn pick(Crc32cIsa isa) {
#if defined(NABI_X86)
  if (isa != Crc32cIsa::kPortable && has_sse42()) return &crc_sse42;
#endif
  (void)isa;
  return &crc_portable;
}

CrcFn default_fn() {
  static const CrcFn fn = [] {
    const char* req = std::getenv("NABI_CRC32C_ISA");
    return pick(req && std::strcmp(req, "portable") == 0 ? Crc32cIsa::kPortable
                                                          : Crc32cIsa::kAuto);
  }();
  return fn;
}

}  // namespace

uint32_t crc32c_extend(uint32_t crc, const uint8_t* data, size_t n) {
  return ~default_fn()(~crc, data, n);
}

uint32_t crc32c_extend_isa(uint32_t crc, const uint8_t* data, size_t n, Crc32cIsa isa) {
  CrcFn fn = isa == Crc32cIsa::kAuto ? default_fn() : pick(isa);
  return ~fn(~crc, data, n);
}

const char* crc32c_isa_name() {
#if defined(NABI_X86)
  if (default_fn() == &crc_sse42) return "sse4.2";
#endif
  return "portable";
}

bool crc32c_cpu_has_sse42() { return has_sse42(); }

}  // namespace nabi::cpu
