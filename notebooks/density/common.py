"""Shared by the density notebooks: the ablation's caption indexes (`clusterby ablate --data
../shared/data` builds them in target/ablation) and Hungarian ACC."""
import glob, os, sys, time, numpy as np, pyarrow.parquet as pq
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../target/ablation/captions")
from sklearn.cluster import HDBSCAN, KMeans
from sklearn.decomposition import PCA
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import normalized_mutual_info_score as nmi
def load(name):
    tabs=[pq.read_table(p) for p in sorted(glob.glob(os.path.join(ROOT, name, "parts", "*.parquet")))]
    X=np.concatenate([np.stack(t.column("embedding").to_numpy(zero_copy_only=False)) for t in tabs]).astype(np.float32)
    y=sum((t.column("label").to_pylist() for t in tabs),[])
    return X,np.unique(y,return_inverse=True)[1]
def acc(y,l):
    l=np.asarray(l); ks=np.unique(l); ys=np.unique(y)
    M=np.array([[np.sum((l==a)&(y==b)) for b in ys] for a in ks]); r,c=linear_sum_assignment(-M); return M[r,c].sum()/len(y)
if __name__=="__main__":
 for name in sys.argv[1:]:
     X,y=load(name); K=len(np.unique(y)); n=len(y)
     X/=np.linalg.norm(X,axis=1,keepdims=True)
     print(name,n,K,"kmeans",round(acc(y,KMeans(K,n_init=5,random_state=0).fit_predict(X)),3))
     for d in [5,10]:
         Z=PCA(d,random_state=0).fit_transform(X)
         for mcs in [max(5,n//(4*K)), max(5,n//(10*K)), max(5, n//100)]:
           for sel in ["eom","leaf"]:
             t=time.time(); h=HDBSCAN(min_cluster_size=mcs,min_samples=min(mcs,10),cluster_selection_method=sel).fit(Z); dt=time.time()-t
             l=h.labels_.copy(); k=l.max()+1; noise=(l<0).mean()
             if k>0:
                 C=np.stack([Z[l==j].mean(0) for j in range(k)]); m=l<0
                 l2=l.copy(); l2[m]=np.argmin(((Z[m,None,:]-C[None])**2).sum(-1),1)
             else: l2=l
             print(f" d={d} mcs={mcs} {sel}: k={k} noise={noise:.2f} acc_keep={acc(y,l):.3f} acc_assign={acc(y,l2):.3f} nmi={nmi(y,l2):.3f} {dt:.1f}s",flush=True)
 