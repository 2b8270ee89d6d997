/*
 * registrar_writer.h: the file registry's durable writes, done by a long-lived child process so
 * that the master's event loop never waits for a disk (registrar.h, the "file" storage).
 *
 * A store of the file registry is a temp file, its fdatasync, a rename and the directory's
 * fsync: two syncs, tens of milliseconds on a good disk and far more on a busy one. Done on the
 * loop, every agent registration, ping and HTTP request waited for them. The writer moves them
 * into a child process forked once, when the storage is given the loop (the master is small
 * then; a fork per store of a master holding 50,000 agents would copy its page tables each
 * time). A thread was not chosen: the child shares no memory with the master after the fork,
 * so nothing it does can race the loop's state.
 *
 * How a store travels: the registrar assembles the packed registry straight into a memfd both
 * processes hold (cm_reg_writer_buffer; other bytes are copied in with one pwrite: the loop
 * pays at most a memory copy, no disk I/O, no CRC) and the parent sends the child the length
 * over a SOCK_SEQPACKET socketpair; the child maps the memfd, writes the framed file with
 * cm_registry_file_write (CRC-32, temp file, fdatasync, rename, directory fsync; --work_dir
 * created first if missing) and answers with the result and its why text. The parent's read
 * event on the socket runs the store's callback on the loop: only after the bytes are durable,
 * and with exactly the error cm_registry_file_write returned (-ENOSPC, -EIO, -EISDIR, ...), so
 * a failed store fails the registrar as it did when the write was synchronous. One store at a
 * time: the registrar never issues a second before the first completed, and operations queued
 * meanwhile go into its next store (registrar.h).
 *
 * A dead writer: the socket's end of file (the child was killed, or crashed) is seen by the
 * same read event, at once even when no store is in flight. It is logged with the child's exit
 * status; a store in flight completes with -EPIPE (its outcome is unknown: the file holds the
 * previous registry or this one, never a mix), and every later store fails with -EPIPE at once.
 * The writer is not restarted (that would fork the now large master); the registrar fails and
 * the master stops, as for any failed store.
 *
 * The master exiting: cm_reg_writer_free closes the socket; the child finishes the write in
 * progress (if any) and exits, and free waits for it (at most 5 s, then kills it), so a clean
 * shutdown never leaves a store half done. If the master dies abruptly the child is killed
 * with it (PR_SET_PDEATHSIG): a write it was doing stops before its rename, so the registry
 * file keeps the previous version, which is what the master had acknowledged. The child sits
 * in its own process group (a terminal's ^C reaches the master only), resets every signal
 * handler it inherited, and keeps no descriptor but stdio, the socket and the memfd. It runs
 * SCHED_BATCH, so that waking it for a store does not preempt the master's loop on a busy CPU.
 *
 * Ownership: the writer owns the child, the socket and the memfd. Threading: the loop's thread;
 * callbacks run on the loop, never from inside cm_reg_writer_submit except for a writer known to
 * be dead.
 */
#ifndef CM_REGISTRAR_WRITER_H
#define CM_REGISTRAR_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct cm_reg_writer;

/* A store's result: 0 once durable, or the negative error; why (NULL on success) is the text
 * that names the failed call and file, valid for the call only. */
typedef void (*cm_reg_writer_done_cb)(void *arg, int err, const char *why);

/* Forks the writer for the registry file path (copied) and watches it on base. Returns 0 and
 * *out, or -errno (memfd, socketpair, fork or event failed; nothing is left running) with why. */
int cm_reg_writer_new(struct event_base *base, const char *path, struct cm_reg_writer **out,
                      char *why, size_t whylen);

/* Hands data[0..len) (copied) to the writer; cb runs on the loop once it is durable or failed.
 * Returns 0; CM_ESTATE when a store is already in flight (cb is not called). A dead writer:
 * cb(arg, -EPIPE, why) is called before returning and 0 is returned. */
int cm_reg_writer_submit(struct cm_reg_writer *w, const uint8_t *data, size_t len,
                         cm_reg_writer_done_cb cb, void *arg);

/* The shared buffer (the memfd, mapped), grown to at least len bytes, for the caller to put the
 * next store's bytes in: cm_reg_writer_submit of this buffer then copies nothing. Valid until the
 * next call or submit; NULL while a store is in flight, for a dead writer, or if the memfd cannot
 * grow or be mapped (then submit copies the bytes, or fails with the error). */
uint8_t *cm_reg_writer_buffer(struct cm_reg_writer *w, size_t len);

/* True while a store is in flight. */
bool cm_reg_writer_busy(const struct cm_reg_writer *w);
/* True once the child is known to be dead. */
bool cm_reg_writer_dead(const struct cm_reg_writer *w);
/* The child's pid (tests). */
int cm_reg_writer_pid(const struct cm_reg_writer *w);

/* Closes the channel and waits for the child to finish its write and exit (at most 5 s, then
 * kills it). A store in flight never calls back. NULL is a no-op. */
void cm_reg_writer_free(struct cm_reg_writer *w);

#endif
