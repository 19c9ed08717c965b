package stats

import (
	"reflect"
	"testing"
)

// TestStatsAddCoversEveryField sets every counter of a Worker to 1,
// adds it twice and expects 2 everywhere: a counter added to Worker
// but forgotten in add would show up as 0 in the total.
func TestStatsAddCoversEveryField(t *testing.T) {
	var w, total Worker
	setAll(reflect.ValueOf(&w).Elem())
	total.Add(&w)
	total.Add(&w)
	checkAll(t, reflect.ValueOf(total), "Total")
}

func setAll(v reflect.Value) {
	for i := range v.NumField() {
		f := v.Field(i)
		switch f.Kind() {
		case reflect.Struct:
			setAll(f)
		case reflect.Int, reflect.Int64:
			f.SetInt(1)
		case reflect.Uint32, reflect.Uint64:
			f.SetUint(1)
		}
	}
}

func checkAll(t *testing.T, v reflect.Value, path string) {
	for i := range v.NumField() {
		f, name := v.Field(i), path+"."+v.Type().Field(i).Name
		if name == "Total.Queue" {
			continue
		}
		switch f.Kind() {
		case reflect.Struct:
			checkAll(t, f, name)
		case reflect.Int, reflect.Int64:
			if f.Int() != 2 {
				t.Errorf("%s = %d after adding 1 twice", name, f.Int())
			}
		case reflect.Uint32, reflect.Uint64:
			if f.Uint() != 2 {
				t.Errorf("%s = %d after adding 1 twice", name, f.Uint())
			}
		}
	}
}
