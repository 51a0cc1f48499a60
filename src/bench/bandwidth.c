/* Memory bandwidth: how many bytes per second the cores can stream from
 * memory. Decoding one token reads every weight once, so this rate divided
 * by the bytes of weights read per token is the most tokens/s any engine can
 * decode on this machine; `entroscope bench` reports how close it comes.
 *
 * The measurement reads a buffer much larger than the caches from start to
 * end (each thread its own contiguous part, as a matrix-vector product reads
 * its rows), summing the words so that the reads cannot be optimised away.
 * The best of several passes is reported, as STREAM does: interference from
 * the rest of the machine only ever slows a pass down. The buffer lives in
 * 2 MiB pages, as the weights do (util/file_map.h): in 4 KiB pages one
 * thread streams a third slower on this project's VM (26 against 39.5 GB/s),
 * which would understate the limit decode is held to. */
#include <immintrin.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "entroscope.h"
#include "util/error.h"
#include "util/file_map.h"

#define MIN_BYTES (1u << 20)
#define MIN_PASSES 5
#define MAX_PASSES 50
#define MIN_SECONDS 0.3 /* keep passing until this long, for a stable best */

static double seconds_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Sum of n words; eight independent accumulators so that the loop is bound
 * by the loads, not by the additions' latency (and so that it vectorises). */
static uint64_t sum_words(const uint64_t *w, size_t n) {
    uint64_t acc[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) acc[k] += w[i + k];
    for (; i < n; i++) acc[0] += w[i];
    uint64_t s = 0;
    for (int k = 0; k < 8; k++) s += acc[k];
    return s;
}

/* The same with the widest loads the core has: a single core issues only so
 * many loads per cycle, and with 16-byte loads it can fall short of what
 * memory delivers (measured: 19 vs 27 GB/s on one AVX-512 core). */
__attribute__((target("avx512f"))) static uint64_t sum_words_avx512(const uint64_t *w, size_t n) {
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm512_add_epi64(a0, _mm512_loadu_si512((const void *)(w + i)));
        a1 = _mm512_add_epi64(a1, _mm512_loadu_si512((const void *)(w + i + 8)));
        a2 = _mm512_add_epi64(a2, _mm512_loadu_si512((const void *)(w + i + 16)));
        a3 = _mm512_add_epi64(a3, _mm512_loadu_si512((const void *)(w + i + 24)));
    }
    a0 = _mm512_add_epi64(_mm512_add_epi64(a0, a1), _mm512_add_epi64(a2, a3));
    return (uint64_t)_mm512_reduce_add_epi64(a0) + sum_words(w + i, n - i);
}

__attribute__((target("avx2"))) static uint64_t sum_words_avx2(const uint64_t *w, size_t n) {
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_add_epi64(a0, _mm256_loadu_si256((const __m256i *)(w + i)));
        a1 = _mm256_add_epi64(a1, _mm256_loadu_si256((const __m256i *)(w + i + 4)));
        a2 = _mm256_add_epi64(a2, _mm256_loadu_si256((const __m256i *)(w + i + 8)));
        a3 = _mm256_add_epi64(a3, _mm256_loadu_si256((const __m256i *)(w + i + 12)));
    }
    a0 = _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3));
    uint64_t lanes[4];
    _mm256_storeu_si256((__m256i *)lanes, a0);
    return lanes[0] + lanes[1] + lanes[2] + lanes[3] + sum_words(w + i, n - i);
}

typedef uint64_t (*sum_fn)(const uint64_t *w, size_t n);

static sum_fn best_sum(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return sum_words_avx512;
    if (__builtin_cpu_supports("avx2")) return sum_words_avx2;
    return sum_words;
}

/* Thread t of n threads gets words [*begin, *end) of n_words. */
static void thread_part(size_t n_words, int t, int n, size_t *begin, size_t *end) {
    size_t per = n_words / (size_t)n, extra = n_words % (size_t)n;
    *begin = (size_t)t * per + ((size_t)t < extra ? (size_t)t : extra);
    *end = *begin + per + ((size_t)t < extra ? 1 : 0);
}

/* One pass over the buffer by n threads; returns its seconds and the sum. */
static double timed_pass(sum_fn sum_part, const uint64_t *buf, size_t n_words, int n_threads,
                         uint64_t *sum) {
    uint64_t total = 0;
    double t0 = seconds_now();
#pragma omp parallel num_threads(n_threads) reduction(+ : total)
    {
        size_t begin, end;
        thread_part(n_words, omp_get_thread_num(), omp_get_num_threads(), &begin, &end);
        total += sum_part(buf + begin, end - begin);
    }
    double dt = seconds_now() - t0;
    *sum = total;
    return dt;
}

double es_memory_bandwidth(int n_threads, size_t bytes, es_error *err) {
    if (n_threads < 1 || n_threads > 1024) {
        es_fail(err, "bandwidth: %d threads is out of range (1..1024)", n_threads);
        return -1;
    }
    if (bytes < MIN_BYTES) {
        es_fail(err, "bandwidth: a buffer of %zu bytes is too small (at least %u)", bytes, MIN_BYTES);
        return -1;
    }
    size_t n_words = bytes / sizeof(uint64_t);
    size_t alloc = 0;
    uint64_t *buf = es_huge_alloc(n_words * sizeof *buf, &alloc);
    if (!buf) {
        es_fail(err, "bandwidth: out of memory for a %zu-byte buffer", bytes);
        return -1;
    }
    /* Each thread touches its own part first, so that its pages are placed
     * near it (NUMA) and no page fault lands in a timed pass. */
#pragma omp parallel num_threads(n_threads)
    {
        size_t begin, end;
        thread_part(n_words, omp_get_thread_num(), omp_get_num_threads(), &begin, &end);
        for (size_t i = begin; i < end; i++) buf[i] = i;
    }
    /* Word i holds i, so every pass must sum to n(n-1)/2 (mod 2^64): the
     * check keeps every read alive and would catch a wrong partition. */
    uint64_t n = n_words, expect = n % 2 == 0 ? (n / 2) * (n - 1) : n * ((n - 1) / 2);
    uint64_t sum = 0;
    int ok = 1;
    sum_fn sum_part = best_sum();
    double best = 1e30, spent = 0;
    timed_pass(sum_part, buf, n_words, n_threads, &sum); /* warm-up, not counted */
    for (int pass = 0; pass < MAX_PASSES && (pass < MIN_PASSES || spent < MIN_SECONDS); pass++) {
        double dt = timed_pass(sum_part, buf, n_words, n_threads, &sum);
        ok &= sum == expect;
        spent += dt;
        if (dt < best) best = dt;
    }
    munmap(buf, alloc);
    if (!ok || best <= 0) {
        es_fail(err, "bandwidth: the streamed sum is wrong");
        return -1;
    }
    return (double)(n_words * sizeof(uint64_t)) / best / 1e9;
}
