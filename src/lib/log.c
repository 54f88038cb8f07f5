/*
 * log.c: leveled logging to stderr. The level is process-wide (the one
 * deliberate global: SET_LOGGING_LEVEL changes it for every role in the
 * process, as in Mesos). Each line is written with one write() so lines of
 * several processes sharing a terminal do not interleave.
 */
#include "lib/compat.h"
#include "lib/log.h"

#include <sys/time.h>
#include <time.h>
#include <unistd.h>

enum log_level log_current_level = LOG_INFO;

static const char *const log_names[] = {"error", "warn", "info", "debug"};

void log_set_level(enum log_level level)
{
	log_current_level = level;
}

const char *log_level_name(enum log_level level)
{
	if ((unsigned)level >= ARRAY_SIZE(log_names))
		return "?";
	return log_names[level];
}

int log_parse_level(const char *s, enum log_level *out)
{
	for (size_t i = 0; i < ARRAY_SIZE(log_names); i++) {
		if (strcmp(s, log_names[i]) == 0 ||
		    (s[0] == (char)('0' + i) && s[1] == '\0')) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	if (strcmp(s, "warning") == 0) {
		*out = LOG_WARN;
		return 0;
	}
	return -EINVAL;
}

void log_write(enum log_level level, const char *component, const char *fmt,
               ...)
{
	char line[2048];
	struct timeval tv;
	struct tm tm;
	va_list ap;
	int n, m;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	n = snprintf(line, sizeof(line),
	             "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s %s ",
	             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	             tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000),
	             log_level_name(level), component);
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	n += m;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, (size_t)n) < 0) {
		/* nowhere left to report it */
	}
}
