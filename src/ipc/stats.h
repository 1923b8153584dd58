/*
 * The run report's unit: what reading one partition cost. Pure C (no Python): it travels from a
 * worker process to the host in DONE (ipc/messages.c).
 */
#ifndef HW_IPC_STATS_H
#define HW_IPC_STATS_H

#include <stdbool.h>
#include <stdint.h>

/* What reading one partition cost (the run report): counted per batch, timed with clock_gettime per
 * batch; rows are timed on a sample (one row in HW_STATS_SAMPLE) to split the source's next() from
 * the conversion without a clock read per row. Times in nanoseconds. */
#define HW_STATS_SAMPLE 64
typedef struct hw_partition_stats {
  int64_t partition, rows, batches, bytes; /* bytes: of the batches' Arrow buffers (converted or passed through) */
  int64_t wall_ns;    /* open to close */
  int64_t source_ns;  /* in the source's read() and its iterator's next() */
  int64_t convert_ns; /* converting rows / checking RecordBatches */
  int64_t wait_ns;    /* blocked on the consumer: a full queue (thread mode), no credit (process); inline: 0 */
  int64_t pid;        /* the process that read it */
  /* internal: the sampled split of the row loop, and when it opened */
  int64_t loop_ns, sampled_source_ns, sampled_convert_ns, opened_ns, items;
} hw_partition_stats;

/* What writing one partition cost: the batches handed to the writer's write(iterator), timed with
 * clock_gettime once per batch (the feed, pyexec/write_feed.c). Times in nanoseconds. */
typedef struct hw_write_stats {
  int64_t partition, rows, batches, bytes; /* bytes: of the Arrow batches the writer was fed */
  int64_t wall_ns;    /* write() called to returned */
  int64_t writer_ns;  /* in the writer's own code: wall less converting and waiting */
  int64_t convert_ns; /* Arrow -> Rows (plain writers; Arrow writers: 0) */
  int64_t input_ns;   /* waiting on the input: reading the partition that feeds the write */
  int64_t pid;        /* the process that wrote it */
} hw_write_stats;

/* A write task's counters as RESULT carries them: the write, and the read that fed it (has_*: the
 * task reported them; a task that is not a write task reports neither). */
typedef struct hw_task_stats {
  bool has_write, has_read;
  hw_write_stats write;
  hw_partition_stats read;
} hw_task_stats;

#endif
