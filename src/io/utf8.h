/* kvcert: strict UTF-8 validation (internal; not installed).
 * Shared by the safetensors reader and writer; exposed for its tests. */
#ifndef KVC_IO_UTF8_H
#define KVC_IO_UTF8_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Strict UTF-8 (Unicode table 3-7): no overlong forms, no surrogates,
 * nothing above U+10FFFF. Returns n when s[0..n) is valid, else the index
 * of the first byte of the first invalid sequence. */
size_t kvc__utf8_invalid_at(const unsigned char *s, size_t n);

#ifdef __cplusplus
}
#endif

#endif
