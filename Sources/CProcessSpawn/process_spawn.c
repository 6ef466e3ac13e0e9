#define _GNU_SOURCE
#include "process_spawn.h"
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <errno.h>
#include <fcntl.h>

short autospawn_spawn_setsid_flag(void) { return POSIX_SPAWN_SETSID; }

int autospawn_spawn_add_closefrom(posix_spawn_file_actions_t *actions, int lowest) {
    return posix_spawn_file_actions_addclosefrom_np(actions, lowest);
}

int autospawn_pidfd_open(int pid) {
#ifdef SYS_pidfd_open
    return (int)syscall(SYS_pidfd_open, pid, 0);
#else
    errno = ENOSYS;
    return -1;
#endif
}

int autospawn_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

int autospawn_wakeup_open(void) { return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); }

void autospawn_wakeup_signal(int fd) { (void)eventfd_write(fd, 1); }

void autospawn_wakeup_drain(int fd) {
    eventfd_t count;
    (void)eventfd_read(fd, &count);
}

#include <sys/prctl.h>

int autospawn_become_subreaper(void) {
    return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
}
