/*
 * clock.h -- the one monotonic clock: step times, ETAs, timeouts, poll
 * intervals.  Never goes back when the wall clock is set; not a date (use
 * time() for those).
 */
#ifndef DF_CLOCK_H
#define DF_CLOCK_H

#include <stdint.h>

/* Seconds since an arbitrary fixed point (CLOCK_MONOTONIC). */
double df_clock_s(void);

/* The same in whole milliseconds. */
int64_t df_clock_ms(void);

#endif /* DF_CLOCK_H */
