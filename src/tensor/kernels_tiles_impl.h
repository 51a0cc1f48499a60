/* The driver loop of the several-rows F32-activation kernels ("tiles"),
 * shared by kernels_avx512.c and kernels_avx2.c, which include it after
 * defining, for their vector width:
 *   TILE_VEC, TILE_ZERO      the vector type and its zero
 *   TILE_NR, TILE_NB         weight rows x activation rows per tile (NB 2 or 3)
 *   TILE_K_CHUNKS            32-element chunks per pass over a row
 *   TILE_MAX_GROUPS          row groups whose accumulators one slice carries
 *   TILE_ACCS                accumulators per (row, b) in the one-row dot
 *   TILE_REDUCE(p)           the one-row dot's final reduction of its
 *                            TILE_ACCS accumulators p[0 .. TILE_ACCS)
 *   TILE_GETTER              the name of the table function to define
 * and the inline functions rowdot_f_tile (the register tile over chunks k0 ..
 * k1, accumulators carried in memory, k0 = 0 starting from zero), rowdot
 * (the one-row dot) and tail_dot (its scalar tail). It defines
 * rowdot_f_rows, the es_rowdot_rows_fn entry points for F32, F16 and BF16,
 * and TILE_GETTER. The batch goes in blocks of TILE_NB (their activations
 * stay in L1 while the weight rows pass), each over the rows in groups of
 * TILE_NR, each row in passes of TILE_K_CHUNKS chunks; then the rows left
 * over take the one-row dot. Every pair keeps the one-row dot's
 * accumulators and order: the same bits. Not a public header. */

INLINE void rowdot_f_rows(es_dtype type, const uint8_t *w, size_t ws, int nr, const float *x, int64_t xs,
                          int nb, int64_t n, float *out, int64_t os) {
    TILE_VEC acc[TILE_MAX_GROUPS][TILE_ACCS * TILE_NR * TILE_NB];
    int64_t n_chunks = n / 32;
    int groups = nr / TILE_NR;
    for (int g0 = 0; g0 < groups; g0 += TILE_MAX_GROUPS) {
        int ng = groups - g0 < TILE_MAX_GROUPS ? groups - g0 : TILE_MAX_GROUPS;
        const uint8_t *wg = w + (size_t)g0 * TILE_NR * ws;
        for (int b0 = 0; b0 < nb; b0 += TILE_NB) {
            int g = nb - b0 < TILE_NB ? nb - b0 : TILE_NB;
            const float *xb = x + b0 * xs;
            float *ob = out + b0 * os + g0 * TILE_NR;
            if (n_chunks == 0) /* no pass to start the accumulators: a row shorter than a chunk */
                for (int i = 0; i < ng; i++)
                    for (int j = 0; j < TILE_ACCS * TILE_NR * TILE_NB; j++) acc[i][j] = TILE_ZERO;
            for (int64_t k0 = 0; k0 < n_chunks; k0 += TILE_K_CHUNKS) {
                int64_t k1 = n_chunks - k0 < TILE_K_CHUNKS ? n_chunks : k0 + TILE_K_CHUNKS;
                for (int i = 0; i < ng; i++) {
                    const uint8_t *wr = wg + (size_t)i * TILE_NR * ws;
#if TILE_NB == 3
                    if (g == 3) rowdot_f_tile(type, 3, wr, ws, xb, xs, k0, k1, acc[i]);
                    else
#endif
                    if (g == 2) rowdot_f_tile(type, 2, wr, ws, xb, xs, k0, k1, acc[i]);
                    else rowdot_f_tile(type, 1, wr, ws, xb, xs, k0, k1, acc[i]);
                }
            }
            for (int i = 0; i < ng; i++)
                for (int r = 0; r < TILE_NR; r++)
                    for (int b = 0; b < g; b++) { /* the one-row dot's reduction and tail */
                        const uint8_t *wr = wg + (size_t)(i * TILE_NR + r) * ws;
                        float sum = TILE_REDUCE(&acc[i][TILE_ACCS * (r * TILE_NB + b)]);
                        float tail = n_chunks * 32 < n ? tail_dot(type, wr, xb + b * xs, n_chunks * 32, n) : 0.0f;
                        ob[b * os + i * TILE_NR + r] = sum + tail;
                    }
        }
    }
    for (int r = groups * TILE_NR; r < nr; r++)
        for (int b0 = 0; b0 < nb; b0 += ES_ROWDOT_MAX_NB)
            rowdot(type, w + (size_t)r * ws, x + b0 * xs, xs, nb - b0 < ES_ROWDOT_MAX_NB ? nb - b0 : ES_ROWDOT_MAX_NB,
                   n, out + b0 * os + r, os);
}

#define ES_ROWDOT_ROWS_ENTRY(name, type)                                                           \
    TARGET static void name(const void *w, size_t ws, int nr, const float *x, int64_t xs, int nb, \
                            int64_t n, float *out, int64_t os) {                                   \
        rowdot_f_rows(type, w, ws, nr, x, xs, nb, n, out, os);                                     \
    }
ES_ROWDOT_ROWS_ENTRY(rows_f32, ES_F32)
ES_ROWDOT_ROWS_ENTRY(rows_f16, ES_F16)
ES_ROWDOT_ROWS_ENTRY(rows_bf16, ES_BF16)

es_rowdot_rows_fn *TILE_GETTER(es_dtype type) {
    return type == ES_F32 ? rows_f32 : type == ES_F16 ? rows_f16 : type == ES_BF16 ? rows_bf16 : NULL;
}
