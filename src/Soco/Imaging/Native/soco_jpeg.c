/*
 * SoCo's fast JPEG path: libjpeg-turbo (the system's libjpeg.so.62, the library PIL itself links on Debian, with its
 * SIMD kernels) decoding straight to 8-bit RGB. Built by src/Soco/Soco.csproj when a C compiler and jpeglib.h are
 * present; ImageDecoder falls back to SkiaSharp (whose bundled libjpeg-turbo has no SIMD) when it is absent, and for
 * every file this path does not take cleanly (see the return codes).
 *
 * libjpeg reports fatal errors through error_exit, which must not return: it longjmps back here, so no managed frame
 * is ever skipped. Warnings (corrupt or truncated data) are counted; the caller then decodes with the old path, so
 * damaged files behave exactly as before.
 */
#include <setjmp.h>
#include <stddef.h>
#include <stdio.h>
#include <jpeglib.h>

struct soco_err {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    int warnings;
};

static void soco_error_exit(j_common_ptr cinfo) {
    struct soco_err *e = (struct soco_err *)cinfo->err;
    longjmp(e->jump, 1);
}

static void soco_emit_message(j_common_ptr cinfo, int level) {
    struct soco_err *e = (struct soco_err *)cinfo->err;
    if (level < 0) e->warnings++;
}

static void soco_output_message(j_common_ptr cinfo) { (void)cinfo; }

/* Return codes. */
#define SOCO_OK 0
#define SOCO_ERROR 1       /* libjpeg gave up: let the other decoder say why */
#define SOCO_WARNING 2     /* decoded, but libjpeg warned (corrupt / truncated data): use the other decoder */
#define SOCO_UNSUPPORTED 3 /* colour space other than YCbCr / RGB / grayscale, or not the size asked for */

/* Header only: size and colour space (libjpeg's J_COLOR_SPACE). */
int soco_jpeg_info(const unsigned char *data, unsigned long size, int *width, int *height, int *color_space) {
    struct jpeg_decompress_struct cinfo;
    struct soco_err err;
    cinfo.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = soco_error_exit;
    err.pub.emit_message = soco_emit_message;
    err.pub.output_message = soco_output_message;
    err.warnings = 0;
    if (setjmp(err.jump)) {
        jpeg_destroy_decompress(&cinfo);
        return SOCO_ERROR;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, size);
    jpeg_read_header(&cinfo, TRUE);
    *width = (int)cinfo.image_width;
    *height = (int)cinfo.image_height;
    *color_space = (int)cinfo.jpeg_color_space;
    jpeg_destroy_decompress(&cinfo);
    return err.warnings ? SOCO_WARNING : SOCO_OK;
}

/* Decodes to RGB, 3 bytes a pixel, width * 3 bytes a row, into out (width * height * 3 bytes). */
int soco_jpeg_decode_rgb(const unsigned char *data, unsigned long size, unsigned char *out, int width, int height) {
    struct jpeg_decompress_struct cinfo;
    struct soco_err err;
    cinfo.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = soco_error_exit;
    err.pub.emit_message = soco_emit_message;
    err.pub.output_message = soco_output_message;
    err.warnings = 0;
    if (setjmp(err.jump)) {
        jpeg_destroy_decompress(&cinfo);
        return SOCO_ERROR;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, size);
    jpeg_read_header(&cinfo, TRUE);
    if ((cinfo.jpeg_color_space != JCS_YCbCr && cinfo.jpeg_color_space != JCS_RGB && cinfo.jpeg_color_space != JCS_GRAYSCALE)
        || (int)cinfo.image_width != width || (int)cinfo.image_height != height) {
        jpeg_destroy_decompress(&cinfo);
        return SOCO_UNSUPPORTED;
    }
    /* libjpeg's defaults otherwise (ISLOW IDCT, fancy upsampling), as PIL and Skia use them */
    cinfo.out_color_space = JCS_RGB;
    jpeg_start_decompress(&cinfo);
    if (cinfo.output_components != 3 || (int)cinfo.output_width != width || (int)cinfo.output_height != height) {
        jpeg_destroy_decompress(&cinfo);
        return SOCO_UNSUPPORTED;
    }
    size_t stride = (size_t)width * 3;
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW rows[16];
        JDIMENSION n = cinfo.output_height - cinfo.output_scanline;
        if (n > 16) n = 16;
        for (JDIMENSION i = 0; i < n; i++) rows[i] = out + (size_t)(cinfo.output_scanline + i) * stride;
        if (jpeg_read_scanlines(&cinfo, rows, n) == 0) break;
    }
    if (cinfo.output_scanline < cinfo.output_height) {
        jpeg_destroy_decompress(&cinfo);
        return SOCO_WARNING;
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    return err.warnings ? SOCO_WARNING : SOCO_OK;
}
