package kernelspec

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
)

// Logo draws the kernel's logo at size×size pixels: a ring of rank dots
// around a Go-blue disc. It is drawn rather than shipped so that any size a
// frontend asks for is sharp and the repository holds no binary assets.
func Logo(size int) ([]byte, error) {
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	blue := color.NRGBA{0x00, 0xAD, 0xD8, 0xFF} // Go's "Gopher blue"
	dark := color.NRGBA{0x00, 0x4B, 0x6B, 0xFF}
	c := float64(size) / 2
	disc := 0.30 * float64(size)
	ring := 0.40 * float64(size)
	dot := 0.085 * float64(size)
	const dots = 8
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			px, py := float64(x)+0.5-c, float64(y)+0.5-c
			if math.Hypot(px, py) <= disc {
				img.SetNRGBA(x, y, blue)
				continue
			}
			for i := 0; i < dots; i++ {
				a := 2 * math.Pi * float64(i) / dots
				if math.Hypot(px-ring*math.Cos(a), py-ring*math.Sin(a)) <= dot {
					img.SetNRGBA(x, y, dark)
					break
				}
			}
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		return nil, fmt.Errorf("encode logo: %w", err)
	}
	return b.Bytes(), nil
}
