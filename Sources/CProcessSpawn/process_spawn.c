#define _GNU_SOURCE
#include "process_spawn.h"
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <errno.h>
#include <fcntl.h>

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

int autospawn_make_undumpable(void) {
    return prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

#include <sys/mman.h>

int autospawn_memfd(const char *name) { return memfd_create(name, MFD_CLOEXEC); }

#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

// The child of vfork shares the caller's memory until it executes or exits, as in glibc's own posix_spawn: it only
// makes system calls, and sets the user with raw ones (glibc's setuid would signal the caller's threads to change
// theirs too). What the child reports goes through `failure`, which the caller reads once the child has executed
// or died.
static void spawn_child(const autospawn_spawn_request *r, char *const *candidates, volatile int *failure) {
    int log = open(r->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (log < 0) { *failure = errno; _exit(127); }
    int input = r->input_fd >= 0 ? r->input_fd : open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (input < 0) { *failure = errno; _exit(127); }
    // Moved above the standard descriptors first, so that no dup2 below overwrites a source it still needs.
    int high_input = fcntl(input, F_DUPFD_CLOEXEC, 10);
    int high_log = fcntl(log, F_DUPFD_CLOEXEC, 10);
    int high_body = r->body_fd >= 0 ? fcntl(r->body_fd, F_DUPFD_CLOEXEC, 10) : -1;
    if (high_input < 0 || high_log < 0 || (r->body_fd >= 0 && high_body < 0)) { *failure = errno; _exit(127); }
    if (dup2(high_input, 0) < 0 || dup2(high_log, 1) < 0 || dup2(high_log, 2) < 0) { *failure = errno; _exit(127); }
    if (high_body >= 0 && dup2(high_body, 3) < 0) { *failure = errno; _exit(127); }
    unsigned int first_closed = high_body >= 0 ? 4 : 3;
    if (syscall(SYS_close_range, first_closed, ~0U, 0) != 0) {
        for (int fd = (int)first_closed; fd < 65536; fd++) close(fd);
    }
    if (setsid() < 0) { *failure = errno; _exit(127); }
    if (r->switch_user) {
        gid_t groups[1] = {r->gid};
        if (syscall(SYS_setgroups, 1, groups) != 0 || syscall(SYS_setresgid, r->gid, r->gid, r->gid) != 0 ||
            syscall(SYS_setresuid, r->uid, r->uid, r->uid) != 0) {
            *failure = errno;
            _exit(127);
        }
    }
    // The service ignores SIGPIPE and handles SIGTERM/SIGINT itself; ignored signals survive exec, and a bot
    // that ignores SIGTERM cannot be stopped gently.
    struct sigaction fallback;
    memset(&fallback, 0, sizeof fallback);
    fallback.sa_handler = SIG_DFL;
    for (int signal_number = 1; signal_number < NSIG; signal_number++) {
        if (signal_number == SIGKILL || signal_number == SIGSTOP) continue;
        (void)sigaction(signal_number, &fallback, NULL);
    }
    sigset_t none;
    sigemptyset(&none);
    (void)sigprocmask(SIG_SETMASK, &none, NULL);
    // As execvp does: a folder of PATH that lacks the file, or cannot be searched, lets the next one be tried.
    int denied = 0;
    for (char *const *candidate = candidates; *candidate != NULL; candidate++) {
        execve(*candidate, r->argv, r->envp);
        if (errno == EACCES) { denied = 1; continue; }
        if (errno == ENOENT || errno == ENOTDIR) continue;
        *failure = errno;
        _exit(127);
    }
    *failure = denied ? EACCES : ENOENT;
    _exit(127);
}

int autospawn_spawn(const autospawn_spawn_request *r, pid_t *pid) {
    if (r->file == NULL || r->file[0] == '\0') return ENOENT;
    // Every path the child may try, built before it exists: it must not allocate.
    size_t file_length = strlen(r->file);
    size_t folders = 1;
    const char *search = strchr(r->file, '/') ? "" : (r->search_path ? r->search_path : "/usr/local/bin:/usr/bin:/bin");
    for (const char *c = search; *c; c++) if (*c == ':') folders++;
    char **candidates = calloc(folders + 1, sizeof(char *));
    if (candidates == NULL) return ENOMEM;
    size_t count = 0;
    if (strchr(r->file, '/')) {
        candidates[count++] = strdup(r->file);
    } else {
        const char *start = search;
        while (1) {
            const char *end = strchr(start, ':');
            size_t length = end ? (size_t)(end - start) : strlen(start);
            // An empty folder in PATH is the working folder, as execvp takes it.
            char *path = malloc(length + file_length + 3);
            if (path != NULL) {
                if (length == 0) {
                    memcpy(path, "./", 2);
                    memcpy(path + 2, r->file, file_length + 1);
                } else {
                    memcpy(path, start, length);
                    path[length] = '/';
                    memcpy(path + length + 1, r->file, file_length + 1);
                }
                candidates[count++] = path;
            }
            if (end == NULL) break;
            start = end + 1;
        }
    }
    int result = 0;
    if (count == 0 || candidates[0] == NULL) {
        result = ENOMEM;
    } else {
        // No handler of the service may run in the child, which shares its memory: every signal waits until the
        // child has reset them all.
        sigset_t all, previous;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &previous);
        volatile int failure = 0;
        pid_t child = vfork();
        if (child == 0) spawn_child(r, candidates, &failure);
        if (child < 0) {
            result = errno;
        } else if (failure != 0) {
            result = failure;
            int status;
            while (waitpid(child, &status, 0) < 0 && errno == EINTR) {}
        } else {
            *pid = child;
        }
        pthread_sigmask(SIG_SETMASK, &previous, NULL);
    }
    for (size_t i = 0; i < count; i++) free(candidates[i]);
    free(candidates);
    return result;
}
