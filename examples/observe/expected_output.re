accounts: 1000, balance total 1000000, transfers 300000
census: observe::Account 1000 objects, 16000 bytes
census: observe::Transfer [0-9]+ objects left after the collection
census: [0-9]+ types, [0-9]+ objects, [0-9]+ bytes in all
cycles: [0-9]+ \([0-9]+ forced\), largest marked [0-9]+ bytes
pauses: [0-9]+\.[0-9]{3} ms in all, [0-9]+\.[0-9]{3} ms the longest
heap: [0-9]+ bytes in [0-9]+ objects, [0-9]+ allocated ever, [0-9]+ bytes from the OS
collector cpu: [0-9]+\.[0-9]{2}%
