/* Llama 3.1's rescaling of the rotary frequencies ("rope_type": "llama3" in
 * config.json). Long wavelengths (low frequencies, which the original
 * context never saw a full turn of) are stretched by `factor`, short ones
 * are kept, and those in between are blended. The result is expressed as
 * llama.cpp's rope_freqs.weight: one divisor per frequency, so that a GGUF
 * carrying the tensor and a config.json carrying the parameters give the
 * same tables in the forward pass. */
#include <math.h>

#include "model/model.h"
#include "util/error.h"

int es_rope_scaling_check(const es_rope_scaling *s, const char *name, es_error *err) {
    if (!s->llama3) return 0;
    if (!(s->factor >= 1 && isfinite(s->factor)))
        return es_fail(err, "%s: rope_scaling factor %g must be >= 1", name, s->factor);
    if (!(s->low_freq_factor > 0 && s->high_freq_factor > s->low_freq_factor &&
          isfinite(s->high_freq_factor)))
        return es_fail(err, "%s: rope_scaling needs 0 < low_freq_factor (%g) < "
                       "high_freq_factor (%g)", name, s->low_freq_factor, s->high_freq_factor);
    if (s->original_context <= 0)
        return es_fail(err, "%s: rope_scaling original_max_position_embeddings %d must be "
                       "positive", name, s->original_context);
    return 0;
}

void es_rope_llama3_factors(const es_rope_scaling *s, float rope_theta, int head_dim,
                            float *factors) {
    const double two_pi = 6.283185307179586;
    const double ctx = s->original_context;
    const double low_wavelen = ctx / s->low_freq_factor;   /* longer: divide by factor */
    const double high_wavelen = ctx / s->high_freq_factor; /* shorter: keep */
    for (int i = 0; i < head_dim / 2; i++) {
        double freq = pow((double)rope_theta, -2.0 * i / head_dim);
        double wavelen = two_pi / freq;
        if (wavelen < high_wavelen) {
            factors[i] = 1.0f;
        } else if (wavelen > low_wavelen) {
            factors[i] = s->factor;
        } else {
            double smooth = (ctx / wavelen - s->low_freq_factor) /
                            (s->high_freq_factor - s->low_freq_factor);
            factors[i] = (float)(1.0 / ((1.0 - smooth) / s->factor + smooth));
        }
    }
}
