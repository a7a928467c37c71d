// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as TFRecord frames use it.
//   crc32c_extend(crc, data, n): the CRC of (what gave `crc`) followed by data[0, n);
//   crc = 0 starts a new checksum; the pre/post inversion is inside, as in TF's crc32c::Extend.
// Two implementations, chosen once at run time (see crc32c.cpp): SSE4.2's crc32 instruction
// (x86 with sse4.2) and a portable slicing-by-8 table version. NABI_CRC32C_ISA=portable forces
// the table version; crc32c_extend_isa() picks one per call (tests check both).
#pragma once
#include <cstddef>
#include <cstdint>

namespace nabi::cpu {

enum class Crc32cIsa { kAuto, kPortable, kSse42 };

uint32_t crc32c_extend(uint32_t crc, const uint8_t* data, size_t n);
// `isa` kAuto is the dispatched default; kSse42 on a CPU without it falls back to portable.
uint32_t crc32c_extend_isa(uint32_t crc, const uint8_t* data, size_t n, Crc32cIsa isa);
// "sse4.2" or "portable": what crc32c_extend runs on this machine.
const char* crc32c_isa_name();
bool crc32c_cpu_has_sse42();

// TFRecord's stored checksum: rotate right by 15 bits, add 0xa282ead8 (mod 2**32).
inline uint32_t crc32c_mask(uint32_t crc) {
  return ((crc >> 15) | (crc << 17)) + 0xA282EAD8u;
}

}  // namespace nabi::cpu
