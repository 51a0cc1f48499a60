/* Conversion between F32 and the storage types: dequantise a row for the
 * embedding lookup and the tests, quantise a row for the GGUF writer. */
#ifndef ES_TENSOR_QUANT_H
#define ES_TENSOR_QUANT_H

#include "tensor/tensor.h"

/* dst[0..n) = the n elements at src, as F32. n a multiple of the block size. */
void es_dequantize_row(es_dtype type, const void *src, float *dst, int64_t n);
/* Writes es_dtype_row_bytes(type, n) bytes to dst. Q8_0/Q4_0 use the
 * round-to-nearest scheme of GGML's reference quantiser; Q4_K/Q5_K/Q6_K our
 * own fit (quant.c) in GGML's layout, so llama.cpp reads what we write. */
void es_quantize_row(es_dtype type, const float *src, void *dst, int64_t n);

#endif
