// Linux's process calls that Swift's Glibc module does not declare (they need _GNU_SOURCE), and bots' spawning.
#ifndef AUTOSPAWN_PROCESS_SPAWN_H
#define AUTOSPAWN_PROCESS_SPAWN_H

#include <sys/types.h>

/// What a bot process is started with (`autospawn_spawn`).
typedef struct {
    /// The command's first word: a path when it holds a '/', else looked up in `search_path`.
    const char *file;
    /// PATH's folders, ':'-separated, for a `file` without '/'.
    const char *search_path;
    char *const *argv;
    char *const *envp;
    /// Becomes fd 0; -1: /dev/null.
    int input_fd;
    /// Opened for appending (created 0600) as fds 1 and 2, before the user is switched.
    const char *log_path;
    /// Becomes fd 3 (the bot's body, `AUTOSPAWN_BODY_FILE=/dev/fd/3`); -1: none.
    int body_fd;
    /// Non-zero: the process drops to `uid`/`gid` (with `gid` as its only group) before it executes anything.
    int switch_user;
    uid_t uid;
    gid_t gid;
} autospawn_spawn_request;

/// Starts a process in a session and process group of its own with every signal at its default and unblocked, and
/// no descriptor of the caller's but the three (or four) it is given. 0 and the pid, or the errno of the step that
/// failed (the exec's own, when the program cannot be run).
int autospawn_spawn(const autospawn_spawn_request *request, pid_t *pid);

/// prctl(PR_SET_DUMPABLE, 0): no process of this user may read this one's /proc files (environ, memory,
/// descriptors) or attach to it. 0 on success, -1 with errno set.
int autospawn_make_undumpable(void);

/// memfd_create(2), close-on-exec: an anonymous file, for a bot's body; -1 with errno set.
int autospawn_memfd(const char *name);

/// pidfd_open(2): a descriptor that becomes readable when the process ends; -1 with errno set when it fails.
int autospawn_pidfd_open(int pid);

/// pipe2(2) with O_CLOEXEC on both ends: no process started meanwhile inherits either (a warm bot's input must
/// reach end of input when the service is gone). 0 on success, -1 with errno set.
int autospawn_pipe_cloexec(int fds[2]);

/// An eventfd (close-on-exec, non-blocking) to wake a poll(2); -1 when it fails.
int autospawn_wakeup_open(void);

/// Makes the wakeup descriptor readable.
void autospawn_wakeup_signal(int fd);

/// Reads the wakeup descriptor empty.
void autospawn_wakeup_drain(int fd);

/// prctl(PR_SET_CHILD_SUBREAPER, 1): orphans of this process's descendants are re-parented to it, not to init.
/// 0 on success, -1 with errno set.
int autospawn_become_subreaper(void);

#endif
