/*
 * log.h: one line per event on stderr:
 *   2026-11-25T11:04:50.123Z info master key=value... message
 * The macros check the level before formatting anything.
 */
#ifndef ATOLL_LOG_H
#define ATOLL_LOG_H

#include <stdbool.h>

enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

extern enum log_level log_current_level;

void log_set_level(enum log_level level);
/* Parses "error", "warn", "info", "debug" (or 0..3); returns -EINVAL else. */
int log_parse_level(const char *s, enum log_level *out);
const char *log_level_name(enum log_level level);
void log_write(enum log_level level, const char *component, const char *fmt,
               ...) __attribute__((format(printf, 3, 4)));

#define log_at(lvl, comp, ...)                                                 \
	do {                                                                   \
		if ((lvl) <= log_current_level)                                \
			log_write((lvl), (comp), __VA_ARGS__);                 \
	} while (0)
#define log_error(comp, ...) log_at(LOG_ERROR, comp, __VA_ARGS__)
#define log_warn(comp, ...) log_at(LOG_WARN, comp, __VA_ARGS__)
#define log_info(comp, ...) log_at(LOG_INFO, comp, __VA_ARGS__)
#define log_debug(comp, ...) log_at(LOG_DEBUG, comp, __VA_ARGS__)

#endif
