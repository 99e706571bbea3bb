/*
 * soco_mpi: the few MPI calls SoCo.NET's process group needs, compiled against the installed mpi.h (Open MPI or
 * MPICH) so that the C# side never depends on an MPI implementation's handle ABI (Open MPI's handles are pointers to
 * global objects, MPICH's are ints; docs/distributed.md). Every function returns an MPI error code (0 = success):
 * MPI_COMM_WORLD is switched to MPI_ERRORS_RETURN so a failure reaches C# as a message instead of killing the process.
 * Counts are 64-bit: buffers larger than INT_MAX elements are sent in chunks.
 */
#include <mpi.h>
#include <dlfcn.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>

#define CHUNK (INT_MAX / 8)

static MPI_Datatype dtype_of(int t)
{
    switch (t) {
    case 0: return MPI_FLOAT;
    case 1: return MPI_DOUBLE;
    case 2: return MPI_INT64_T;
    default: return MPI_BYTE;
    }
}

static size_t size_of(int t)
{
    switch (t) {
    case 0: return 4;
    case 1: return 8;
    case 2: return 8;
    default: return 1;
    }
}

static MPI_Op op_of(int o)
{
    switch (o) {
    case 1: return MPI_MAX;
    case 2: return MPI_MIN;
    default: return MPI_SUM;
    }
}

/* Open MPI loads its transport plugins with dlopen; they resolve symbols of libmpi, which .NET loaded (through this
 * library) without RTLD_GLOBAL. Promoting libmpi to the global namespace first is what mpi4py does for the same reason. */
static void promote_libmpi(void)
{
    const char *names[] = { "libmpi.so.40", "libmpi.so.12", "libmpi.so", 0 };
    for (int i = 0; names[i]; i++)
        if (dlopen(names[i], RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD)) return;
}

int soco_mpi_init(int *rank, int *size, int *local_rank)
{
    int inited = 0, provided = 0, rc;
    promote_libmpi();
    MPI_Initialized(&inited);
    if (!inited) {
        rc = MPI_Init_thread(0, 0, MPI_THREAD_SERIALIZED, &provided);
        if (rc != MPI_SUCCESS) return rc;
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    if ((rc = MPI_Comm_rank(MPI_COMM_WORLD, rank)) != MPI_SUCCESS) return rc;
    if ((rc = MPI_Comm_size(MPI_COMM_WORLD, size)) != MPI_SUCCESS) return rc;
    MPI_Comm node;
    if ((rc = MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, *rank, MPI_INFO_NULL, &node)) != MPI_SUCCESS) return rc;
    rc = MPI_Comm_rank(node, local_rank);
    MPI_Comm_free(&node);
    return rc;
}

int soco_mpi_finalize(void)
{
    int fin = 0;
    MPI_Finalized(&fin);
    return fin ? MPI_SUCCESS : MPI_Finalize();
}

int soco_mpi_barrier(void) { return MPI_Barrier(MPI_COMM_WORLD); }

int soco_mpi_abort(int code) { return MPI_Abort(MPI_COMM_WORLD, code); }

/* In place: buf holds this rank's values and receives the reduction. */
int soco_mpi_allreduce(void *buf, int64_t count, int type, int op)
{
    char *p = (char *)buf;
    size_t es = size_of(type);
    while (count > 0) {
        int n = count > CHUNK ? CHUNK : (int)count;
        int rc = MPI_Allreduce(MPI_IN_PLACE, p, n, dtype_of(type), op_of(op), MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return rc;
        p += (size_t)n * es;
        count -= n;
    }
    return MPI_SUCCESS;
}

int soco_mpi_bcast(void *buf, int64_t bytes, int root)
{
    char *p = (char *)buf;
    while (bytes > 0) {
        int n = bytes > CHUNK ? CHUNK : (int)bytes;
        int rc = MPI_Bcast(p, n, MPI_BYTE, root, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return rc;
        p += n;
        bytes -= n;
    }
    return MPI_SUCCESS;
}

/* Every rank sends `bytes` bytes; recv receives world × bytes, rank r's at offset r × bytes. */
int soco_mpi_allgather(const void *send, int64_t bytes, void *recv)
{
    if (bytes > CHUNK) return MPI_ERR_COUNT;
    return MPI_Allgather(send, (int)bytes, MPI_BYTE, recv, (int)bytes, MPI_BYTE, MPI_COMM_WORLD);
}

/* Rank r sends counts[r] bytes (every rank passes all counts); recv receives them back to back in rank order. */
int soco_mpi_allgatherv(const void *send, const int64_t *counts, int world, void *recv)
{
    int cnt[4096], disp[4096];
    int64_t off = 0;
    if (world > 4096) return MPI_ERR_COUNT;
    for (int r = 0; r < world; r++) {
        if (counts[r] > CHUNK || off > CHUNK) return MPI_ERR_COUNT;
        cnt[r] = (int)counts[r];
        disp[r] = (int)off;
        off += counts[r];
    }
    int me;
    MPI_Comm_rank(MPI_COMM_WORLD, &me);
    return MPI_Allgatherv(send, cnt[me], MPI_BYTE, recv, cnt, disp, MPI_BYTE, MPI_COMM_WORLD);
}

int soco_mpi_error_string(int code, char *buf, int len)
{
    char s[MPI_MAX_ERROR_STRING];
    int n = 0;
    if (MPI_Error_string(code, s, &n) != MPI_SUCCESS) n = 0;
    s[n < MPI_MAX_ERROR_STRING ? n : MPI_MAX_ERROR_STRING - 1] = 0;
    strncpy(buf, s, (size_t)len - 1);
    buf[len - 1] = 0;
    return n;
}

int soco_mpi_library_version(char *buf, int len)
{
    char s[MPI_MAX_LIBRARY_VERSION_STRING];
    int n = 0;
    MPI_Get_library_version(s, &n);
    strncpy(buf, s, (size_t)len - 1);
    buf[len - 1] = 0;
    return n;
}
