module ringpin/benches/peers/go

go 1.19
