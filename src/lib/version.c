/* version.c: Atoll's VersionInfo, shared by every role's /version and
 * GET_VERSION. */
#include "lib/compat.h"
#include "lib/version.h"

#include <ctype.h>
#include <time.h>

#include "lib/jsonw.h"

/*
 * The build's date and time from __DATE__ ("Mmm dd yyyy") and __TIME__
 * ("hh:mm:ss"), taken as UTC. Returns false when the compiler did not
 * provide them.
 */
static bool version_build_time(struct tm *tm)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	const char *d = __DATE__, *t = __TIME__;
	int mon;

	memset(tm, 0, sizeof(*tm));
	for (mon = 0; mon < 12; mon++)
		if (!strncmp(months + 3 * mon, d, 3))
			break;
	if (mon == 12 || strlen(d) != 11 || strlen(t) != 8 ||
	    !isdigit((unsigned char)d[5]) || !isdigit((unsigned char)d[7]) ||
	    !isdigit((unsigned char)t[0]))
		return false;
	tm->tm_mon = mon;
	tm->tm_mday = (d[4] == ' ' ? 0 : (d[4] - '0') * 10) + (d[5] - '0');
	tm->tm_year = (int)strtol(d + 7, NULL, 10) - 1900;
	tm->tm_hour = (t[0] - '0') * 10 + (t[1] - '0');
	tm->tm_min = (t[3] - '0') * 10 + (t[4] - '0');
	tm->tm_sec = (t[6] - '0') * 10 + (t[7] - '0');
	return true;
}

/* VersionInfo as /version and GET_VERSION show it: build_date as Mesos
 * prints it, build_time in seconds since the epoch. */
void version_write_info(struct jsonw *w)
{
	struct tm tm;
	char date[32];

	jsonw_obj_begin(w);
	jsonw_kstr(w, "version", ATOLL_VERSION);
	jsonw_kstr(w, "mesos_api_version", ATOLL_MESOS_API_VERSION);
	if (version_build_time(&tm) &&
	    strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm)) {
		jsonw_kstr(w, "build_date", date);
		jsonw_kdouble(w, "build_time", (double)timegm(&tm));
	}
	jsonw_kstr(w, "build_user", "atoll");
#ifdef ATOLL_GIT_SHA
	jsonw_kstr(w, "git_sha", ATOLL_GIT_SHA);
#else
	jsonw_kstr(w, "git_sha", "");
#endif
	jsonw_obj_end(w);
}
