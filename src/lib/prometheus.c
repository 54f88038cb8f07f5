/* prometheus.c: flat JSON metrics snapshot -> Prometheus text format. */
#include "lib/compat.h"
#include "lib/prometheus.h"

#include <jansson.h>

#include "lib/buf.h"

void prometheus_from_snapshot(struct buf *out, const char *snapshot, size_t len)
{
	json_t *obj = json_loadb(snapshot, len, 0, NULL);
	const char *key;
	json_t *v;

	json_object_foreach(obj, key, v)
	{
		char name[160];
		size_t n;

		if (!json_is_number(v))
			continue;
		n = (size_t)snprintf(name, sizeof(name), "atoll_");
		for (const char *p = key; *p && n + 1 < sizeof(name); p++)
			name[n++] = (char)((*p >= 'a' && *p <= 'z') ||
			                           (*p >= 'A' && *p <= 'Z') ||
			                           (*p >= '0' && *p <= '9')
			                       ? *p
			                       : '_');
		name[n] = '\0';
		buf_addf(out, "# TYPE %s gauge\n%s %.10g\n", name, name,
		         json_number_value(v));
	}
	json_decref(obj);
}
