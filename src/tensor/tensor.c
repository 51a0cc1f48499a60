/* Type tables and the half / bfloat16 conversions. The conversions are
 * written by hand (they are a few lines and need no library); the hardware
 * F16C path, where it matters, lives in the kernels. */
#include "tensor/tensor.h"

#include <string.h>
#include <strings.h>

typedef struct dtype_desc {
    uint32_t type;
    const char *name;
    int64_t block_size;  /* elements per block */
    int64_t block_bytes; /* bytes per block */
    int supported;       /* the engine computes with it */
} dtype_desc;

/* Every GGML type number up to BF16, so that files using other types can be
 * size-checked and named in a clear "unsupported type" message. */
static const dtype_desc dtypes[] = {
    {0, "F32", 1, 4, 1},        {1, "F16", 1, 2, 1},
    {2, "Q4_0", 32, 18, 1},     {3, "Q4_1", 32, 20, 0},
    {6, "Q5_0", 32, 22, 0},     {7, "Q5_1", 32, 24, 0},
    {8, "Q8_0", 32, 34, 1},     {9, "Q8_1", 32, 36, 0},
    {10, "Q2_K", 256, 84, 0},   {11, "Q3_K", 256, 110, 0},
    {12, "Q4_K", 256, 144, 1},  {13, "Q5_K", 256, 176, 1},
    {14, "Q6_K", 256, 210, 1},  {15, "Q8_K", 256, 292, 0},
    {16, "IQ2_XXS", 256, 66, 0}, {17, "IQ2_XS", 256, 74, 0},
    {18, "IQ3_XXS", 256, 98, 0}, {19, "IQ1_S", 256, 50, 0},
    {20, "IQ4_NL", 32, 18, 0},  {21, "IQ3_S", 256, 110, 0},
    {22, "IQ2_S", 256, 82, 0},  {23, "IQ4_XS", 256, 136, 0},
    {24, "I8", 1, 1, 0},        {25, "I16", 1, 2, 0},
    {26, "I32", 1, 4, 0},       {27, "I64", 1, 8, 0},
    {28, "F64", 1, 8, 0},       {29, "IQ1_M", 256, 56, 0},
    {30, "BF16", 1, 2, 1},
};

static const dtype_desc *find(uint32_t type) {
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (dtypes[i].type == type) return &dtypes[i];
    return NULL;
}

int es_dtype_supported(uint32_t type) {
    const dtype_desc *d = find(type);
    return d && d->supported;
}

int es_dtype_known(uint32_t type) { return find(type) != NULL; }

const char *es_dtype_name(uint32_t type) {
    const dtype_desc *d = find(type);
    return d ? d->name : "?";
}

int es_dtype_from_name(const char *name) {
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (strcasecmp(dtypes[i].name, name) == 0) return (int)dtypes[i].type;
    return -1;
}

int64_t es_dtype_block_size(uint32_t type) {
    const dtype_desc *d = find(type);
    return d ? d->block_size : 0;
}

int64_t es_dtype_block_bytes(uint32_t type) {
    const dtype_desc *d = find(type);
    return d ? d->block_bytes : 0;
}

int64_t es_dtype_row_bytes(uint32_t type, int64_t n) {
    const dtype_desc *d = find(type);
    if (!d || n < 0 || n % d->block_size != 0) return -1;
    return n / d->block_size * d->block_bytes;
}

static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

float es_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    if (exp == 0x1f) return bits_f32(sign | 0x7f800000u | (mant << 13)); /* inf, nan */
    if (exp == 0) { /* zero or subnormal: mant * 2^-24 */
        float v = (float)mant * 0x1p-24f;
        return sign ? -v : v;
    }
    return bits_f32(sign | ((exp + 112) << 23) | (mant << 13));
}

uint16_t es_f32_to_f16(float f) {
    uint32_t u = f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    uint32_t abs = u & 0x7fffffffu;
    if (abs >= 0x7f800000u) /* inf or nan (keep nan quiet) */
        return sign | 0x7c00 | (abs > 0x7f800000u ? 0x200 : 0);
    if (abs >= 0x477ff000u) return sign | 0x7c00; /* rounds to >= 65520: inf */
    if (abs < 0x38800000u) { /* below the smallest normal half: subnormal or 0 */
        /* value * 2^24, rounded to nearest even, as an integer mantissa */
        float v = bits_f32(abs) * 0x1p24f;
        uint32_t m = (uint32_t)v;
        float rem = v - (float)m;
        if (rem > 0.5f || (rem == 0.5f && (m & 1))) m++;
        return sign | (uint16_t)m;
    }
    uint32_t exp = (abs >> 23) - 112, mant = abs & 0x7fffff;
    uint32_t h = (exp << 10) | (mant >> 13);
    uint32_t rest = mant & 0x1fff;
    if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) h++; /* may carry into exp: fine */
    return sign | (uint16_t)h;
}

float es_bf16_to_f32(uint16_t h) { return bits_f32((uint32_t)h << 16); }

uint16_t es_f32_to_bf16(float f) {
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet nan */
    u += 0x7fff + ((u >> 16) & 1); /* round to nearest even */
    return (uint16_t)(u >> 16);
}
