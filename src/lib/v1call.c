/*
 * v1call.c: the checks every Mesos v1 endpoint (/api/v1, /api/v1/scheduler,
 * /api/v1/executor, /api/v1/agent) makes before it looks at a call, in
 * Mesos's order and with its status codes: method (405), Content-Type
 * (400 missing, 415 other; protobuf is not supported yet), Accept (406),
 * body parses as a JSON object (400, with the parser's line and column).
 */
#include "lib/compat.h"
#include "lib/v1call.h"

#include <strings.h>

static bool media_type_is(const char *value, const char *type)
{
	size_t n = strlen(type);
	while (*value == ' ')
		value++;
	return strncasecmp(value, type, n) == 0 &&
	       (value[n] == '\0' || value[n] == ';' || value[n] == ' ');
}

/* True when an Accept header admits JSON. */
static bool accept_allows_json(const char *accept)
{
	const char *p = accept;
	while (p && *p) {
		while (*p == ' ' || *p == ',')
			p++;
		if (media_type_is(p, "application/json") ||
		    media_type_is(p, "application/*") ||
		    media_type_is(p, "*/*") ||
		    media_type_is(p, "application/recordio"))
			return true;
		p = strchr(p, ',');
	}
	return false;
}

json_t *v1call_parse(struct http_request *req)
{
	const char *ct, *accept;
	json_error_t jerr;
	json_t *call;

	if (strcmp(req->method, "POST") != 0) {
		http_request_add_header(req, "Allow", "POST");
		http_respond_error(req, 405,
		                   "Expecting a 'POST' request, received '%s'",
		                   req->method);
		return NULL;
	}
	ct = http_request_header(req, "Content-Type");
	if (!ct) {
		http_respond_error(req, 400,
		                   "Expecting 'Content-Type' to be present");
		return NULL;
	}
	if (media_type_is(ct, "application/x-protobuf")) {
		http_respond_error(req, 415,
		                   "Content-Type 'application/x-protobuf' is "
		                   "not supported by Atoll yet; send "
		                   "'application/json'");
		return NULL;
	}
	if (!media_type_is(ct, "application/json")) {
		http_respond_error(req, 415,
		                   "Expecting 'Content-Type' of "
		                   "application/json, got '%s'",
		                   ct);
		return NULL;
	}
	accept = http_request_header(req, "Accept");
	if (accept && !accept_allows_json(accept)) {
		http_respond_error(req, 406,
		                   "Expecting 'Accept' to allow "
		                   "'application/json', got '%s'",
		                   accept);
		return NULL;
	}
	call = json_loadb(req->body, req->body_len, JSON_ALLOW_NUL, &jerr);
	if (!call) {
		http_respond_error(req, 400,
		                   "Failed to parse body into JSON: %s (line "
		                   "%d, column %d)",
		                   jerr.text, jerr.line, jerr.column);
		return NULL;
	}
	if (!json_is_object(call)) {
		json_decref(call);
		http_respond_error(req, 400,
		                   "Failed to convert JSON into Call: expected "
		                   "an object");
		return NULL;
	}
	return call;
}
