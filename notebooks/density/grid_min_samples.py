import sys, numpy as np, warnings; warnings.filterwarnings("ignore")
sys.path.insert(0, __import__("os").path.dirname(__file__))
from common import load, acc
from grid_dims import assign
from sklearn.cluster import HDBSCAN
from sklearn.decomposition import PCA
for name in sys.argv[1:]:
    X,y=load(name); K=len(np.unique(y)); n=len(y); X/=np.linalg.norm(X,axis=1,keepdims=True)
    Z=PCA(10,random_state=0).fit_transform(X)
    for kh in [K, min(30,int(n**.5))]:
        mcs=max(5,n//(4*kh))
        for ms in [5,20,50,mcs]:
            if ms>mcs: continue
            l=HDBSCAN(min_cluster_size=mcs,min_samples=ms).fit(Z).labels_
            print(f"{name} hint={kh} mcs={mcs} ms={ms}: k={l.max()+1} noise={(l<0).mean():.2f} keep={acc(y,l):.3f} assign={acc(y,assign(X,l)):.3f}",flush=True)
