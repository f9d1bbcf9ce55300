/* What a local load could cost if the CRC32C check rode along with the copy itself.
 *
 * Built and driven by copy_check_ceiling.py; not part of the package. x86-64 with
 * AVX-512 VPCLMULQDQ only: a measurement of the ceiling, not a code path.
 *
 * fold_copy(crc, src, dst, n): the CRC32C of src (continuing crc), copying src to dst
 * (dst may be NULL: checksum only) in the same pass. Four 512-bit accumulators fold 256
 * bytes a step with carry-less multiplies by x^(8*256+64-33) and x^(8*256-33) mod P
 * (reflected; given by the driver), then the 256 folded bytes and the tail go through
 * the SSE 4.2 crc32 instruction.
 */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

static uint64_t k_lo, k_hi;

void set_fold_constants(uint64_t lo, uint64_t hi) { k_lo = lo; k_hi = hi; }

__attribute__((target("sse4.2")))
static uint32_t crc_bytes(uint32_t x, const uint8_t *p, size_t n) {
    uint64_t y = x;
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        y = _mm_crc32_u64(y, v);
    }
    uint32_t z = (uint32_t)y;
    while (n--) z = _mm_crc32_u8(z, *p++);
    return z;
}

__attribute__((target("avx512f")))
static inline void store4(uint8_t *dst, __m512i a, __m512i b, __m512i c, __m512i d) {
    _mm512_storeu_si512(dst, a); _mm512_storeu_si512(dst + 64, b);
    _mm512_storeu_si512(dst + 128, c); _mm512_storeu_si512(dst + 192, d);
}

#define FOLD(a, d) _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(a, k, 0x00), \
                                             _mm512_clmulepi64_epi128(a, k, 0x11), d, 0x96)

__attribute__((target("avx512f,vpclmulqdq,sse4.2")))
uint32_t fold_copy(uint32_t crc, const uint8_t *src, uint8_t *dst, size_t n) {
    uint32_t x = ~crc;
    if (n >= 512) {
        const __m512i k = _mm512_set_epi64(k_hi, k_lo, k_hi, k_lo, k_hi, k_lo, k_hi, k_lo);
        __m512i a0 = _mm512_loadu_si512(src), a1 = _mm512_loadu_si512(src + 64);
        __m512i a2 = _mm512_loadu_si512(src + 128), a3 = _mm512_loadu_si512(src + 192);
        if (dst) store4(dst, a0, a1, a2, a3), dst += 256;
        a0 = _mm512_xor_si512(a0, _mm512_zextsi128_si512(_mm_cvtsi32_si128((int)x)));
        for (src += 256, n -= 256; n >= 256; src += 256, n -= 256) {
            __m512i d0 = _mm512_loadu_si512(src), d1 = _mm512_loadu_si512(src + 64);
            __m512i d2 = _mm512_loadu_si512(src + 128), d3 = _mm512_loadu_si512(src + 192);
            if (dst) store4(dst, d0, d1, d2, d3), dst += 256;
            a0 = FOLD(a0, d0); a1 = FOLD(a1, d1); a2 = FOLD(a2, d2); a3 = FOLD(a3, d3);
        }
        uint8_t folded[256];
        store4(folded, a0, a1, a2, a3);
        x = crc_bytes(0, folded, 256);
    }
    if (dst) memcpy(dst, src, n);
    return ~crc_bytes(x, src, n);
}

void plain_copy(const uint8_t *src, uint8_t *dst, size_t n) { memcpy(dst, src, n); }
