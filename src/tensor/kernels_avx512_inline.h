/* What the AVX-512 kernel files (kernels_avx512*.c) share: the target
 * attribute every function there is compiled with, and small helpers. x86
 * only; not part of any interface. */
#ifndef ES_TENSOR_KERNELS_AVX512_INLINE_H
#define ES_TENSOR_KERNELS_AVX512_INLINE_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "tensor/kernels_internal.h"

#define TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")))
#define INLINE static inline __attribute__((always_inline)) TARGET

INLINE float f16_scalar(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2); /* block scales are unaligned */
    return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h)));
}

/* k_block_scales in registers (Q4_K/Q5_K: lanes 8-15 zero), the same values. */
INLINE void k_block_scales_v(es_dtype type, const uint8_t *blk, __m512 *step, __m512 *offset) {
    if (type == ES_Q6_K) {
        __m512i sc = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(const void *)(blk + 192)));
        *step = _mm512_mul_ps(_mm512_set1_ps(f16_scalar(blk + 208)), _mm512_cvtepi32_ps(sc));
        *offset = _mm512_mul_ps(_mm512_set1_ps(32.0f), *step);
        return;
    }
    uint64_t sc, m;
    es_k_unpack_scales(blk + 4, &sc, &m);
    __m256 sc_f = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_set_epi64x(0, (long long)sc)));
    __m256 m_f = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_set_epi64x(0, (long long)m)));
    *step = _mm512_zextps256_ps512(_mm256_mul_ps(_mm256_set1_ps(f16_scalar(blk)), sc_f));
    *offset = _mm512_zextps256_ps512(_mm256_mul_ps(_mm256_set1_ps(f16_scalar(blk + 2)), m_f));
}

#endif
