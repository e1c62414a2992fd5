/* kvcert stats: JSON paths in error messages and --check mismatch lines
 * ("$.per_passage[1].results[0].codecs.c"), one spelling for the readers and
 * the checker. Internal (not installed). */
#ifndef KVC_STATS_JSONPATH_H
#define KVC_STATS_JSONPATH_H

#include <stddef.h>

/* parent + ".key", or parent + "[\"key\"]" when key is not an identifier
 * (quotes and backslashes escaped, control bytes as \xNN); truncated
 * safely to size. Returns out. */
const char *kvc__json_path_key(char *out, size_t size, const char *parent, const char *key);

#endif
