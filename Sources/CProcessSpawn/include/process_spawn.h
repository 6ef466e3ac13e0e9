// glibc's spawn extensions are declared only under _GNU_SOURCE, which Swift's Glibc module does not define.
#ifndef AUTOSPAWN_PROCESS_SPAWN_H
#define AUTOSPAWN_PROCESS_SPAWN_H

#include <spawn.h>

/// POSIX_SPAWN_SETSID: the child starts a session (and process group) of its own.
short autospawn_spawn_setsid_flag(void);

/// Closes every descriptor from `lowest` up in the child, so a bot inherits none of the service's.
int autospawn_spawn_add_closefrom(posix_spawn_file_actions_t *actions, int lowest);

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
