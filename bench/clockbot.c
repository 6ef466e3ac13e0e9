// The bot of the spawn-latency benchmark: records when it began to run (CLOCK_REALTIME, nanoseconds) and the room
// it was given, one line appended to a file, then waits to be stopped. Usage: clockbot ROOM_URL FILE
#include <fcntl.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    if (argc < 3) {
        fprintf(stderr, "usage: clockbot ROOM_URL FILE\n");
        return 2;
    }
    char line[512];
    int length = snprintf(line, sizeof line, "%s %lld\n", argv[1], (long long)now.tv_sec * 1000000000LL + now.tv_nsec);
    int file = open(argv[2], O_WRONLY | O_APPEND | O_CREAT, 0644);
    // One write with O_APPEND: lines from bots starting at once do not interleave.
    if (file < 0 || length <= 0 || write(file, line, (size_t)length) != length) {
        perror("clockbot");
        return 1;
    }
    close(file);
    for (;;) pause();  // SIGTERM's default action ends it
}
