/*
 * snapshot.c: big read-only documents (/state) served from a forked
 * snapshot, so reads never stall the write path.
 *
 * Serialising /state for 100,000 tasks takes ~200 ms; on the master's one
 * loop that would delay every call, heartbeat and offer by as much (Mesos's
 * users lived with exactly this, reference §5.6). Instead, as Redis does for
 * BGSAVE, the master forks: the child sees a copy-on-write image of the
 * state at that instant, writes the document into a pipe and exits; the
 * parent relays the pipe into a chunked response as the client reads it,
 * pausing when the client is slower than the child. The loop only pays for
 * the fork (page tables) and the copying of bytes.
 *
 *   request --fork()--> child: write(doc) to pipe, _exit(0)
 *      |                 parent: pipe --(uv_read)--> http_stream_write
 *      |                 EOF: http_stream_end; reap the child
 *      +-- client gone: SIGKILL the child, close the pipe
 *
 * The job lives until its pipe, timer and stream have all closed.
 * Invariants: at most SNAPSHOT_MAX_JOBS children per master at once (beyond
 * that the document is written inline, as before); every child is reaped
 * (waitpid with WNOHANG on EOF, retried from a timer until it is gone). The
 * child touches only memory and the pipe: no loop, no logging, no exit
 * handlers.
 */
#include "lib/compat.h"
#include "master/master_int.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/jsonw.h"
#include "lib/log.h"

#define SNAPSHOT_MAX_JOBS 4
/* Stop reading the pipe while this much is queued for the client. */
#define SNAPSHOT_HIGH_WATER (4u << 20)
#define SNAPSHOT_POLL_MS 5

struct snapshot_job {
	struct master *m;
	uv_pipe_t pipe;
	uv_timer_t timer; /* resumes reading / reaps the child */
	struct http_stream *stream;
	pid_t pid;
	bool reading, eof, closing;
	int handles;
};

static void snapshot_write_all(int fd, const char *p, size_t n);

/* jsonw flush hook of the child: the pipe takes each 1 MiB as it is
 * written, so the parent relays while the child still serialises. */
static void snapshot_flush(struct buf *out, void *arg)
{
	snapshot_write_all(*(int *)arg, out->data, out->len);
	buf_reset(out);
}

static void snapshot_write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		p += w;
		n -= (size_t)w;
	}
}

/* Drops one of the job's references: the pipe, the timer, the stream. */
static void snapshot_unref(struct snapshot_job *job)
{
	if (--job->handles == 0) {
		job->m->snapshot_jobs--;
		free(job);
	}
}

static void snapshot_handle_closed(uv_handle_t *h)
{
	snapshot_unref(h->data);
}

/* Reaps the child if it is gone; true when nothing is left to wait for. */
static bool snapshot_reap(struct snapshot_job *job)
{
	int status;
	if (job->pid <= 0)
		return true;
	pid_t r = waitpid(job->pid, &status, WNOHANG);
	if (r == job->pid || (r < 0 && errno == ECHILD)) {
		job->pid = 0;
		return true;
	}
	return false;
}

static void snapshot_finish(struct snapshot_job *job)
{
	if (job->closing)
		return;
	job->closing = true;
	if (job->pid > 0 && !job->eof)
		kill(job->pid, SIGKILL);
	uv_read_stop((uv_stream_t *)&job->pipe);
	uv_close((uv_handle_t *)&job->pipe, snapshot_handle_closed);
	/* the timer keeps reaping until the child is gone */
}

static void snapshot_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	(void)h;
	b->base = xmalloc(suggested);
	b->len = suggested;
}

static void snapshot_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct snapshot_job *job = s->data;

	if (n > 0 && job->stream) {
		if (http_stream_write(job->stream, b->base, (size_t)n)) {
			/* cannot happen below the high-water mark; treat as
			 * gone */
			http_stream_end(job->stream);
			job->stream = NULL;
			snapshot_finish(job);
		} else if (http_stream_queued(job->stream) >
		           SNAPSHOT_HIGH_WATER) {
			uv_read_stop(s);
			job->reading = false;
		}
	} else if (n < 0) {
		job->eof = true;
		if (job->stream) {
			http_stream_end(job->stream);
			job->stream = NULL;
		}
		snapshot_finish(job);
	}
	free(b->base);
}

static void snapshot_timer_cb(uv_timer_t *t)
{
	struct snapshot_job *job = t->data;

	if (job->closing) {
		if (snapshot_reap(job)) {
			uv_timer_stop(t);
			uv_close((uv_handle_t *)t, snapshot_handle_closed);
		}
		return;
	}
	if (!job->reading && job->stream &&
	    http_stream_queued(job->stream) < SNAPSHOT_HIGH_WATER / 2) {
		job->reading = true;
		uv_read_start((uv_stream_t *)&job->pipe, snapshot_alloc,
		              snapshot_on_read);
	}
}

static void snapshot_stream_closed(struct http_stream *s, void *arg)
{
	struct snapshot_job *job = arg;
	(void)s;
	job->stream = NULL;
	snapshot_finish(job);
	snapshot_unref(job);
}

void master_respond_snapshot(struct master *m, struct http_request *req,
                             master_doc_fn *write_doc)
{
	struct snapshot_job *job;
	int fds[2];
	pid_t pid;

	if (m->snapshot_jobs >= SNAPSHOT_MAX_JOBS || m->stopping ||
	    pipe2(fds, O_CLOEXEC) != 0)
		goto inline_doc;
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		goto inline_doc;
	}
	if (pid == 0) {
		struct buf b = BUF_INIT;
		struct jsonw w;
		/* The loop's signal handlers would write into the parent's
		 * signal pipe: this child must not take part in them. */
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		signal(SIGCHLD, SIG_DFL);
		close(fds[0]);
		jsonw_init(&w, &b);
		jsonw_set_flush(&w, snapshot_flush, &fds[1], 1u << 20);
		write_doc(m, &w);
		snapshot_write_all(fds[1], b.data, b.len);
		_exit(0);
	}
	close(fds[1]);
	job = xcalloc(1, sizeof(*job));
	job->m = m;
	job->pid = pid;
	m->snapshot_jobs++;
	uv_pipe_init(m->loop, &job->pipe, 0);
	uv_pipe_open(&job->pipe, fds[0]);
	job->pipe.data = job;
	uv_timer_init(m->loop, &job->timer);
	job->timer.data = job;
	job->handles = 3; /* pipe, timer, stream */
	uv_timer_start(&job->timer, snapshot_timer_cb, SNAPSHOT_POLL_MS,
	               SNAPSHOT_POLL_MS);
	/* a stream ends its connection: say so, so clients do not reuse it */
	http_request_add_header(req, "Connection", "close");
	job->stream = http_stream_begin(req, 200, "application/json",
	                                snapshot_stream_closed, job);
	if (!job->stream) {
		/* the connection is gone: no close callback will come */
		job->handles--;
		snapshot_finish(job);
		return;
	}
	job->reading = true;
	uv_read_start((uv_stream_t *)&job->pipe, snapshot_alloc,
	              snapshot_on_read);
	return;

inline_doc : {
	struct buf b = BUF_INIT;
	struct jsonw w;
	jsonw_init(&w, &b);
	write_doc(m, &w);
	http_respond_buf(req, 200, "application/json", &b);
	buf_release(&b);
}
}
