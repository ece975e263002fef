package vision

import (
	"fmt"
	"image"
	"image/color"
	"math"
)

// maxPixels bounds the decoded image the preprocessing accepts (the input
// helpers bound the encoded size; this bounds the work on whatever reaches
// here).
const maxPixels = 1 << 26

// rgb is an 8-bit RGB image, row-major, 3 bytes per pixel (llama.cpp's
// clip_image_u8).
type rgb struct {
	w, h int
	pix  []uint8
}

// toRGB converts img to 8-bit RGB the way llama.cpp's loader (stb_image with
// 3 channels) sees a file: non-premultiplied colour, alpha dropped, 16-bit
// samples reduced to their high byte.
func toRGB(img image.Image) (*rgb, error) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w <= 0 || h <= 0 {
		return nil, fmt.Errorf("image: empty (%d×%d)", w, h)
	}
	if int64(w)*int64(h) > maxPixels {
		return nil, fmt.Errorf("image: %d×%d pixels exceeds the limit of %d", w, h, maxPixels)
	}
	out := &rgb{w: w, h: h, pix: make([]uint8, 3*w*h)}
	i := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
			out.pix[i], out.pix[i+1], out.pix[i+2] = c.R, c.G, c.B
			i += 3
		}
	}
	return out, nil
}

// resizePadded resizes src into a side×side image keeping its aspect ratio,
// centred on black: llama.cpp mtmd-image.cpp img_tool::resize with its
// default PAD_CEIL (the new size is ceil(dim·scale), capped at side; offsets
// (side-new)/2) and the Pillow-compatible bilinear filter clip.cpp selects
// for gemma3 (RESIZE_ALGO_BILINEAR).
func resizePadded(src *rgb, side int) *rgb {
	if src.w == side && src.h == side {
		return src
	}
	sw := float32(side) / float32(src.w)
	sh := float32(side) / float32(src.h)
	scale := min(sw, sh)
	nw := min(int(math.Ceil(float64(float32(src.w)*scale))), side)
	nh := min(int(math.Ceil(float64(float32(src.h)*scale))), side)
	r := resizeBilinear(src, max(nw, 1), max(nh, 1))
	dst := &rgb{w: side, h: side, pix: make([]uint8, 3*side*side)}
	ox, oy := (side-r.w)/2, (side-r.h)/2
	for y := 0; y < r.h; y++ {
		copy(dst.pix[3*((y+oy)*side+ox):], r.pix[3*y*r.w:3*(y+1)*r.w])
	}
	return dst
}

// precision is Pillow's fixed-point weight precision (32 - 8 - 2 bits).
const precision = 22

// filterWeights computes Pillow's bilinear coefficients for resampling in
// pixels to out (Pillow libImaging/Resample.c precompute_coeffs, as llama.cpp
// resize_pillow adapts it): per output pixel the first input index, the
// count, and ksize fixed-point weights.
func filterWeights(in, out int) (bounds []int, w []int32, ksize int) {
	scale := float64(in) / float64(out)
	filterscale := max(scale, 1)
	support := 1.0 * filterscale // bilinear support 1
	ksize = int(math.Ceil(support))*2 + 1
	pre := make([]float64, out*ksize)
	bounds = make([]int, 2*out)
	for xx := 0; xx < out; xx++ {
		center := (float64(xx) + 0.5) * scale
		ww := 0.0
		ss := 1.0 / filterscale
		xmin := max(int(center-support+0.5), 0)
		xmax := min(int(center+support+0.5), in) - xmin
		for x := 0; x < xmax; x++ {
			d := (float64(x+xmin) - center + 0.5) * ss
			if d < 0 {
				d = -d
			}
			v := 0.0
			if d < 1 {
				v = 1 - d
			}
			pre[xx*ksize+x] = v
			ww += v
		}
		for x := 0; x < xmax; x++ {
			if ww != 0 {
				pre[xx*ksize+x] /= ww
			}
		}
		bounds[2*xx], bounds[2*xx+1] = xmin, xmax
	}
	w = make([]int32, len(pre))
	fx := math.Ldexp(1, precision)
	for i, p := range pre {
		r := p * fx
		if p < 0 {
			r -= 0.5
		} else {
			r += 0.5
		}
		w[i] = int32(r) // truncation toward zero after ±0.5, as Pillow
	}
	return bounds, w, ksize
}

func clip8(v int32) uint8 {
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}

// resizeBilinear is the separable two-pass (horizontal, then vertical)
// fixed-point resample; a pass whose size does not change is skipped.
func resizeBilinear(src *rgb, tw, th int) *rgb {
	cur := src
	if tw != cur.w {
		bounds, k, ks := filterWeights(cur.w, tw)
		out := &rgb{w: tw, h: cur.h, pix: make([]uint8, 3*tw*cur.h)}
		for y := 0; y < cur.h; y++ {
			row := cur.pix[3*y*cur.w:]
			for xx := 0; xx < tw; xx++ {
				xmin, n := bounds[2*xx], bounds[2*xx+1]
				kw := k[xx*ks:]
				var s0, s1, s2 int32 = 1 << (precision - 1), 1 << (precision - 1), 1 << (precision - 1)
				for x := 0; x < n; x++ {
					p := row[3*(xmin+x):]
					s0 += int32(p[0]) * kw[x]
					s1 += int32(p[1]) * kw[x]
					s2 += int32(p[2]) * kw[x]
				}
				o := out.pix[3*(y*tw+xx):]
				o[0], o[1], o[2] = clip8(s0>>precision), clip8(s1>>precision), clip8(s2>>precision)
			}
		}
		cur = out
	}
	if th != cur.h {
		bounds, k, ks := filterWeights(cur.h, th)
		rowLen := 3 * cur.w
		out := &rgb{w: cur.w, h: th, pix: make([]uint8, rowLen*th)}
		acc := make([]int32, rowLen)
		for yy := 0; yy < th; yy++ {
			ymin, n := bounds[2*yy], bounds[2*yy+1]
			for i := range acc {
				acc[i] = 1 << (precision - 1)
			}
			for y := 0; y < n; y++ {
				row := cur.pix[(ymin+y)*rowLen : (ymin+y+1)*rowLen]
				wgt := k[yy*ks+y]
				for i, p := range row {
					acc[i] += int32(p) * wgt
				}
			}
			o := out.pix[yy*rowLen : (yy+1)*rowLen]
			for i := range o {
				o[i] = clip8(acc[i] >> precision)
			}
		}
		cur = out
	}
	return cur
}

// Patches preprocesses img as llama.cpp does for a gemma3 projector (resize
// with padding to ImageSize, scale to [0,1] by /255, normalise each channel
// with the file's mean and std) and cuts it into patches: the result is
// [patches, 3·p·p], patches row-major over the image, each patch's values
// ordered channel, row, column (the im2col order of ggml_conv_2d, which
// the patch embedding's rows follow).
func (h *Hyper) Patches(img image.Image) ([]float32, error) {
	src, err := toRGB(img)
	if err != nil {
		return nil, err
	}
	r := resizePadded(src, h.ImageSize)
	side, p := h.ImageSize, h.PatchSize
	n := side / p
	out := make([]float32, n*n*3*p*p)
	i := 0
	for py := 0; py < n; py++ {
		for px := 0; px < n; px++ {
			for c := 0; c < 3; c++ {
				for ky := 0; ky < p; ky++ {
					for kx := 0; kx < p; kx++ {
						v := r.pix[3*((py*p+ky)*side+px*p+kx)+c]
						// clip_image_f32::from_u8 then normalize, in float32.
						f := float32(v) / 255
						out[i] = (f - h.Mean[c]) / h.Std[c]
						i++
					}
				}
			}
		}
	}
	return out, nil
}
