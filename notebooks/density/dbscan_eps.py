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
        h=HDBSCAN(min_cluster_size=mcs,min_samples=5,store_centers=None).fit(Z)
        d=np.sort(h._single_linkage_tree_["value"] if "value" in h._single_linkage_tree_.dtype.names else h._single_linkage_tree_[h._single_linkage_tree_.dtype.names[2]])
        best=None
        for q in np.linspace(0.5,0.999,120):
            e=np.quantile(d,q); l=h.dbscan_clustering(e,min_cluster_size=mcs)
            c=l.max()+1
            if best is None or c>best[0]: best=(c,e,l)
        c,e,l=best
        print(f"{name} hint={kh} mcs={mcs}: eps={e:.3f} k={c} noise={(l<0).mean():.2f} acc_keep={acc(y,l):.3f} acc_assign={acc(y,assign(X,l)):.3f}",flush=True)
