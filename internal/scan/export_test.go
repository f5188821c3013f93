package scan

// The label fixtures of labels_test.go, for the scanner's tests in package
// scan_test (which drive the real analytics client, so cannot live here).
var (
	GoodLabels = goodLabels
	WantGood   = &wantGood
)
