/*
 * v1call.h: common request checks of the Mesos v1 HTTP APIs.
 */
#ifndef ATOLL_V1CALL_H
#define ATOLL_V1CALL_H

#include <jansson.h>

#include "lib/http.h"

/*
 * Checks a v1 call request and parses its body. Returns the call object
 * (the caller owns the reference), or NULL after responding with the
 * status and a message that says what was wrong.
 */
json_t *v1call_parse(struct http_request *req);

#endif
