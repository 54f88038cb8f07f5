/*
 * subscriber.h: the one client for every event stream (framework ->
 * master, executor -> agent, agent -> master, CLI -> operator stream).
 *
 * It POSTs a SUBSCRIBE body, keeps the chunked RecordIO response open,
 * parses each record as JSON and hands it over, watches heartbeats (any
 * record resets the watch), follows 307 redirects to the leader, and
 * reconnects with jittered exponential backoff after any failure until
 * stopped. Calls on the session go through subscriber_call(), which adds
 * the Mesos-Stream-Id header and uses a separate keep-alive connection
 * (Mesos requires calls on a connection other than the stream's).
 *
 * With a zk:// URL (opts.zk) the endpoint is the leading master's, read
 * from ZooKeeper (lib/leader.h's detector, in Mesos's znode format): the
 * subscriber connects once a leader is known, and closes the stream and
 * reconnects at once when another master is elected. 307 redirects are
 * still followed meanwhile.
 */
#ifndef ATOLL_SUBSCRIBER_H
#define ATOLL_SUBSCRIBER_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <uv.h>

#include "lib/buf.h"
#include "lib/http.h"

struct subscriber;

struct subscriber_opts {
	/* Candidate endpoints, "host:port" each; tried in turn. */
	const char *const *endpoints;
	size_t nendpoints;
	/*
	 * "zk://host:port[,host:port...]/path": follow the leader found in
	 * ZooKeeper instead (endpoints are then ignored). Checked by
	 * subscriber_start(), which logs and does not start on a bad URL.
	 */
	const char *zk;
	double zk_session_timeout; /* seconds; default 10 */
	const char *path; /* "/api/v1/scheduler" */
	/* Fills body with the SUBSCRIBE call for this attempt. */
	void (*build_subscribe)(struct buf *body, void *arg);
	/* The stream is up (200); stream_id may be NULL if none was sent. */
	void (*on_connected)(const char *stream_id, void *arg);
	/* One event; type is event["type"] (or "" when missing). The event
	 * is released after the callback returns (json_incref to keep). */
	void (*on_event)(json_t *event, const char *type, void *arg);
	/*
	 * The stream is down or could not be opened. http_status is the
	 * response status when the server answered (e.g. 400 with message
	 * its body), else 0 with err a negative errno. The subscriber retries
	 * after a backoff unless subscriber_stop() is called from here.
	 */
	void (*on_disconnected)(int err, int http_status, const char *message,
	                        void *arg);
	double heartbeat_timeout; /* seconds of silence; default 75 */
	double backoff_min;       /* default 0.25 s */
	double backoff_max;       /* default 15 s */
	size_t max_event_bytes;   /* default 64 MiB */
	uint64_t call_timeout_ms; /* default 75 s */
};

struct subscriber *
subscriber_new(uv_loop_t *loop, const struct subscriber_opts *opts, void *arg);
/* Starts (or restarts after stop) connecting; with opts.zk, starts
 * detecting the leader first. */
void subscriber_start(struct subscriber *s);
/* Closes the stream and stops reconnecting; callbacks stop. */
void subscriber_stop(struct subscriber *s);
void subscriber_free(struct subscriber *s);
bool subscriber_is_connected(const struct subscriber *s);
/* The Mesos-Stream-Id of the current stream, or NULL. */
const char *subscriber_stream_id(const struct subscriber *s);
/* "host:port" of the endpoint in use (the leader after redirects), or
 * NULL while a zk:// subscriber knows no leader yet. */
const char *subscriber_endpoint(const struct subscriber *s);
/*
 * POSTs body (a JSON call) to path on the current endpoint with the stream
 * id header. cb may be NULL. Returns 0, or -ENOTCONN when no stream is up
 * (nothing sent).
 */
int subscriber_call(struct subscriber *s, const char *body, size_t len,
                    http_response_fn *cb, void *arg)
    __attribute__((warn_unused_result));

#endif
